"""Vigil's packaging: maps the design's top-level folders onto namespaced imports.

The product's layout fixes the folders (`runtime/`, `export/`, `models/`, `firmware_bridge/`);
generic names like `models` would collide in users' environments, so every folder installs
under `vigil.` (`models/` -> `vigil.models`). Both `pip install .` and `pip install -e .` work.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
ROOMS = {  # folder -> import name
    "vigil": "vigil",
    "firmware_bridge": "vigil.firmware_bridge",
    "runtime": "vigil.runtime",
    "export": "vigil.export",
    "models": "vigil.models",
}


def _packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for folder, name in ROOMS.items():
        packages.append(name)
        package_dir[name] = folder
        for sub in find_packages(where=folder):
            packages.append(f"{name}.{sub}")
            package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


def _version() -> str:
    for line in (HERE / "vigil" / "_version.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("vigil/_version.py has no __version__")


packages, package_dir = _packages()
EXPORT = ["torch>=2.2", "onnx>=1.15", "onnxscript>=0.1", "safetensors>=0.4", "tqdm>=4.60"]
REPLAY = ["wfdb>=4.1"]
PLOT = ["matplotlib>=3.7"]
IMAGING = [  # ultrasound frame sources: capture/video, DICOM with its compressed syntaxes
    "opencv-python-headless>=4.8",
    "pydicom>=3.0",
    "pylibjpeg>=2.0",
    "pylibjpeg-libjpeg>=2.1",
    "pylibjpeg-openjpeg>=2.3",
    "pylibjpeg-rle>=2.0",
]

setup(
    name="vigil-edge",
    version=_version(),
    description="Edge inference runtime for bedside and point-of-care medical devices",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=packages,
    package_dir=package_dir,
    package_data={
        "vigil.firmware_bridge": ["c/*.c", "c/*.h", "c/README.md"],
        "vigil.firmware_bridge.vectors": ["vectors.json"],
        "vigil.models.synthetic": ["scenarios/*.toml"],
        "vigil.models.artifacts": ["*/*.onnx", "*/manifest.json"],
        "vigil.models.ecg_beat": ["*.safetensors", "*.md"],
        "vigil.models.vitals_ae": ["*.safetensors", "*.md"],
        "vigil.models.us_segmenter": ["*.safetensors", "*.md"],
    },
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "pyserial>=3.5",
        "onnxruntime>=1.17",
        "cobs>=1.2",
        "rich>=13",  # the live view (vigil run / vigil demo)
        "tomli>=2.0; python_version<'3.11'",
    ],
    extras_require={
        "export": EXPORT,
        "jetson": ["pycuda>=2022.2"],
        "replay": REPLAY,
        "plot": PLOT,
        "imaging": IMAGING,
        # The tests exercise every extra that installs on a CPU machine, so dev includes them.
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.2",
            "hypothesis>=6.100",
            "ruff>=0.6",
            "neurokit2>=0.2.10",  # the R-peak baseline the analysis benchmark compares with
            "setuptools>=64",  # the non-editable install test builds without isolation
            "wheel",
            *EXPORT,
            *REPLAY,
            *PLOT,
            *IMAGING,
        ],
    },
    entry_points={"console_scripts": ["vigil = vigil.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
    ],
)
