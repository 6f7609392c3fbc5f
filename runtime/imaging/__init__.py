"""Ultrasound on the imaging cart: frame sources, real-time segmentation, findings."""
