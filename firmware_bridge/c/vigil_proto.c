/*
 * vigil_proto.c - see vigil_proto.h and docs/protocol.md.
 *
 * Frames are built in one pass straight into the caller's buffer: each byte goes through
 * the running CRC and a streaming COBS encoder, so no scratch frame buffer is needed.
 * Received frames are COBS-decoded in place in the receiver's buffer.
 */
#include "vigil_proto.h"

#include <string.h>

/* The wire carries IEEE-754 binary32; refuse to build where float is anything else. */
typedef char vgl_float_must_be_32_bits[(sizeof(float) == 4u) ? 1 : -1];

#define VGL_QUIET_NAN_BITS 0x7FC00000u
#define VGL_COBS_MAX_INPUT 0x7FFFu

/* ------------------------------------------------------------------------------ CRC */

uint16_t vgl_crc16_update(uint16_t crc, uint8_t byte)
{
    unsigned bit;
    crc = (uint16_t)(crc ^ (uint16_t)((uint16_t)byte << 8));
    for (bit = 0; bit < 8u; ++bit) {
        if (crc & 0x8000u) {
            crc = (uint16_t)((uint16_t)(crc << 1) ^ 0x1021u);
        } else {
            crc = (uint16_t)(crc << 1);
        }
    }
    return crc;
}

uint16_t vgl_crc16_ccitt_false(const uint8_t *data, size_t len)
{
    uint16_t crc = VGL_CRC_INIT;
    size_t i;
    if (data == NULL) {
        return crc;
    }
    for (i = 0; i < len; ++i) {
        crc = vgl_crc16_update(crc, data[i]);
    }
    return crc;
}

/* ---------------------------------------------------- streaming COBS + CRC writer */

/* COBS as the Python `cobs` package does it: a block closed by reaching 254 data bytes
 * (code 0xFF) carries no implied zero, and a new block is opened only if more bytes follow;
 * a block closed by a zero always has a successor (possibly empty, code 0x01). */
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t pos;      /* next free byte of out */
    size_t code_pos; /* where the open block's code byte goes */
    uint8_t code;    /* 1 + data bytes in the open block */
    uint8_t open;    /* a block is open */
    uint16_t crc;
    size_t raw;      /* bytes before COBS */
    int err;         /* first error, 0 if none */
} vgl_writer_t;

static void wr_init(vgl_writer_t *w, uint8_t *out, size_t cap)
{
    w->out = out;
    w->cap = cap;
    w->pos = 0;
    w->code_pos = 0;
    w->code = 1;
    w->open = 0;
    w->crc = VGL_CRC_INIT;
    w->raw = 0;
    w->err = 0;
}

static void wr_open_block(vgl_writer_t *w)
{
    if (w->pos >= w->cap) {
        w->err = VGL_ERR_SPACE;
        return;
    }
    w->code_pos = w->pos++;
    w->code = 1;
    w->open = 1;
}

static void wr_cobs(vgl_writer_t *w, uint8_t b)
{
    if (w->err) {
        return;
    }
    if (!w->open) {
        wr_open_block(w);
        if (w->err) {
            return;
        }
    }
    w->raw++;
    if (b == 0u) {
        w->out[w->code_pos] = w->code;
        wr_open_block(w);
        return;
    }
    if (w->pos >= w->cap) {
        w->err = VGL_ERR_SPACE;
        return;
    }
    w->out[w->pos++] = b;
    w->code++;
    if (w->code == 0xFFu) {
        w->out[w->code_pos] = w->code;
        w->open = 0; /* the next byte, if any, opens a new block */
    }
}

/* Closes the last block; returns the encoded length or the first error. */
static int wr_cobs_finish(vgl_writer_t *w)
{
    if (w->err) {
        return w->err;
    }
    if (w->open) {
        w->out[w->code_pos] = w->code;
        w->open = 0;
    }
    return (int)w->pos;
}

static void put_u8(vgl_writer_t *w, uint8_t b)
{
    w->crc = vgl_crc16_update(w->crc, b);
    wr_cobs(w, b);
}

static void put_u16(vgl_writer_t *w, uint16_t v)
{
    put_u8(w, (uint8_t)(v & 0xFFu));
    put_u8(w, (uint8_t)(v >> 8));
}

static void put_u32(vgl_writer_t *w, uint32_t v)
{
    put_u8(w, (uint8_t)(v & 0xFFu));
    put_u8(w, (uint8_t)((v >> 8) & 0xFFu));
    put_u8(w, (uint8_t)((v >> 16) & 0xFFu));
    put_u8(w, (uint8_t)(v >> 24));
}

static void put_u64(vgl_writer_t *w, uint64_t v)
{
    put_u32(w, (uint32_t)(v & 0xFFFFFFFFu));
    put_u32(w, (uint32_t)(v >> 32));
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int bits_finite(uint32_t u)
{
    return ((u >> 23) & 0xFFu) != 0xFFu;
}

static void put_bytes(vgl_writer_t *w, const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) {
        put_u8(w, p[i]);
    }
}

/* Header: version, type, seq, time_us. */
static void begin_frame(vgl_writer_t *w, uint8_t *out, size_t cap, uint8_t type, uint16_t seq,
                        uint64_t time_us)
{
    wr_init(w, out, cap);
    put_u8(w, (uint8_t)VGL_PROTOCOL_VERSION);
    put_u8(w, type);
    put_u16(w, seq);
    put_u64(w, time_us);
}

/* CRC (big-endian), COBS close, delimiter; consumes a sequence number on success. */
static int end_frame(vgl_writer_t *w, vgl_tx_t *tx)
{
    uint16_t crc = w->crc;
    int n;
    wr_cobs(w, (uint8_t)(crc >> 8));
    wr_cobs(w, (uint8_t)(crc & 0xFFu));
    if (!w->err && w->raw > VGL_MAX_FRAME) {
        return VGL_ERR_RANGE;
    }
    n = wr_cobs_finish(w);
    if (n < 0) {
        return n;
    }
    if (w->pos >= w->cap) {
        return VGL_ERR_SPACE;
    }
    w->out[w->pos++] = 0u;
    tx->seq = (uint16_t)(tx->seq + 1u);
    tx->frames_sent++;
    return n + 1;
}

int vgl_cobs_encode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size)
{
    vgl_writer_t w;
    size_t i;
    if ((in == NULL && in_len) || out == NULL) {
        return VGL_ERR_ARG;
    }
    if (in_len > VGL_COBS_MAX_INPUT) {
        return VGL_ERR_RANGE;
    }
    wr_init(&w, out, out_size);
    wr_open_block(&w);
    for (i = 0; i < in_len; ++i) {
        wr_cobs(&w, in[i]);
    }
    return wr_cobs_finish(&w);
}

int vgl_cobs_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size)
{
    size_t i = 0;
    size_t o = 0;
    if ((in == NULL && in_len) || (out == NULL && in_len)) {
        return VGL_ERR_ARG;
    }
    if (in_len > VGL_COBS_MAX_INPUT) {
        return VGL_ERR_RANGE;
    }
    /* In place is safe: a data byte is read from in[i] only after the block's code byte,
     * so the write index o is always below i. */
    while (i < in_len) {
        uint8_t code = in[i];
        size_t end;
        if (code == 0u) {
            return VGL_ERR_COBS;
        }
        ++i;
        end = i + (size_t)code - 1u;
        if (end > in_len) {
            return VGL_ERR_COBS;
        }
        for (; i < end; ++i) {
            uint8_t b = in[i];
            if (b == 0u) {
                return VGL_ERR_COBS;
            }
            if (o >= out_size) {
                return VGL_ERR_SPACE;
            }
            out[o++] = b;
        }
        if (i < in_len && code < 0xFFu) {
            if (o >= out_size) {
                return VGL_ERR_SPACE;
            }
            out[o++] = 0u;
        }
    }
    return (int)o;
}

/* ----------------------------------------------------------------------- strings */

/* Length of a NUL-terminated string if it is at most `limit` bytes, else limit + 1. Never
 * reads past the terminator or beyond limit + 1 bytes. */
static size_t bounded_len(const char *s, size_t limit)
{
    size_t n = 0;
    while (n <= limit && s[n] != '\0') {
        ++n;
    }
    return n;
}

/* Strict UTF-8, as Python's decoder: no overlongs, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        uint8_t lo = 0x80u;
        uint8_t hi = 0xBFu;
        size_t k;
        if (c < 0x80u) {
            ++i;
            continue;
        }
        if (c >= 0xC2u && c <= 0xDFu) {
            extra = 1;
        } else if (c >= 0xE0u && c <= 0xEFu) {
            extra = 2;
            if (c == 0xE0u) {
                lo = 0xA0u;
            } else if (c == 0xEDu) {
                hi = 0x9Fu;
            }
        } else if (c >= 0xF0u && c <= 0xF4u) {
            extra = 3;
            if (c == 0xF0u) {
                lo = 0x90u;
            } else if (c == 0xF4u) {
                hi = 0x8Fu;
            }
        } else {
            return 0;
        }
        if (n - i <= extra) {
            return 0;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return 0;
        }
        for (k = 2; k <= extra; ++k) {
            if (s[i + k] < 0x80u || s[i + k] > 0xBFu) {
                return 0;
            }
        }
        i += extra + 1u;
    }
    return 1;
}

/* Writes a str8; returns 0 or VGL_ERR_*. */
static int put_str8(vgl_writer_t *w, const char *s, size_t limit)
{
    size_t n;
    if (s == NULL) {
        return VGL_ERR_ARG;
    }
    n = bounded_len(s, limit);
    if (n > limit || !utf8_valid((const uint8_t *)s, n)) {
        return VGL_ERR_RANGE;
    }
    put_u8(w, (uint8_t)n);
    put_bytes(w, (const uint8_t *)s, n);
    return 0;
}

/* ---------------------------------------------------------------------- encoders */

void vgl_tx_init(vgl_tx_t *tx, uint16_t first_seq)
{
    if (tx != NULL) {
        tx->seq = first_seq;
        tx->frames_sent = 0;
    }
}

static int check_out(const vgl_tx_t *tx, const uint8_t *out)
{
    return (tx == NULL || out == NULL) ? VGL_ERR_ARG : 0;
}

int vgl_encode_frame(vgl_tx_t *tx, uint8_t type, uint64_t time_us, const uint8_t *payload,
                     size_t payload_len, uint8_t *out, size_t out_size)
{
    vgl_writer_t w;
    if (check_out(tx, out) || (payload == NULL && payload_len)) {
        return VGL_ERR_ARG;
    }
    if (payload_len > VGL_MAX_PAYLOAD) {
        return VGL_ERR_RANGE;
    }
    begin_frame(&w, out, out_size, type, tx->seq, time_us);
    put_bytes(&w, payload, payload_len);
    return end_frame(&w, tx);
}

int vgl_encode_hello(vgl_tx_t *tx, uint64_t time_us, const vgl_hello_t *msg, uint8_t *out,
                     size_t out_size)
{
    vgl_writer_t w;
    size_t i;
    size_t j;
    int rc;
    if (check_out(tx, out) || msg == NULL || (msg->channels == NULL && msg->n_channels)) {
        return VGL_ERR_ARG;
    }
    if (msg->n_channels < 1u || msg->n_channels > VGL_MAX_CHANNELS ||
        msg->time_scale_num == 0u || msg->time_scale_den == 0u) {
        return VGL_ERR_RANGE;
    }
    for (i = 0; i < msg->n_channels; ++i) {
        const vgl_channel_t *ch = &msg->channels[i];
        uint32_t scale = float_bits(ch->scale);
        if (ch->rate_num == 0u || ch->rate_den == 0u || !bits_finite(scale) ||
            (scale & 0x7FFFFFFFu) == 0u || !bits_finite(float_bits(ch->offset))) {
            return VGL_ERR_RANGE;
        }
        for (j = 0; j < i; ++j) {
            if (msg->channels[j].id == ch->id) {
                return VGL_ERR_RANGE;
            }
        }
    }
    begin_frame(&w, out, out_size, VGL_MSG_HELLO, tx->seq, time_us);
    put_u32(&w, msg->boot_id);
    put_u16(&w, msg->time_scale_num);
    put_u16(&w, msg->time_scale_den);
    put_u16(&w, msg->heartbeat_ms);
    put_u16(&w, msg->host_timeout_ms);
    rc = put_str8(&w, msg->device_id, VGL_MAX_DEVICE_ID);
    if (rc == 0) {
        rc = put_str8(&w, msg->firmware, VGL_MAX_FIRMWARE);
    }
    if (rc) {
        return rc;
    }
    put_u8(&w, msg->n_channels);
    for (i = 0; i < msg->n_channels; ++i) {
        const vgl_channel_t *ch = &msg->channels[i];
        put_u8(&w, ch->id);
        put_u8(&w, ch->kind);
        put_u32(&w, ch->rate_num);
        put_u16(&w, ch->rate_den);
        put_u32(&w, float_bits(ch->scale));
        put_u32(&w, float_bits(ch->offset));
        rc = put_str8(&w, ch->units, VGL_MAX_UNITS);
        if (rc == 0) {
            rc = put_str8(&w, ch->label, VGL_MAX_LABEL);
        }
        if (rc) {
            return rc;
        }
    }
    return end_frame(&w, tx);
}

int vgl_encode_waveform(vgl_tx_t *tx, uint64_t time_us, uint8_t channel, uint64_t first_index,
                        const int16_t *samples, size_t n, uint8_t *out, size_t out_size)
{
    vgl_writer_t w;
    size_t i;
    if (check_out(tx, out) || samples == NULL) {
        return VGL_ERR_ARG;
    }
    if (n < 1u || n > VGL_MAX_WAVEFORM_SAMPLES) {
        return VGL_ERR_RANGE;
    }
    begin_frame(&w, out, out_size, VGL_MSG_WAVEFORM, tx->seq, time_us);
    put_u8(&w, channel);
    put_u64(&w, first_index);
    for (i = 0; i < n; ++i) {
        /* int16_t is two's complement and the conversion is modulo 2^16 (C99 6.3.1.3). */
        put_u16(&w, (uint16_t)samples[i]);
    }
    return end_frame(&w, tx);
}

int vgl_encode_numerics(vgl_tx_t *tx, uint64_t time_us, const vgl_numerics_t *msg,
                        uint8_t *out, size_t out_size)
{
    vgl_writer_t w;
    uint16_t valid = 0;
    uint32_t bits[VGL_NUM_NUMERICS];
    unsigned k;
    if (check_out(tx, out) || msg == NULL) {
        return VGL_ERR_ARG;
    }
    for (k = 0; k < VGL_NUM_NUMERICS; ++k) {
        uint32_t u = float_bits(msg->values[k]);
        if (((msg->valid >> k) & 1u) && bits_finite(u)) {
            valid = (uint16_t)(valid | (1u << k));
            bits[k] = u;
        } else {
            bits[k] = VGL_QUIET_NAN_BITS;
        }
    }
    begin_frame(&w, out, out_size, VGL_MSG_NUMERICS, tx->seq, time_us);
    put_u16(&w, valid);
    for (k = 0; k < VGL_NUM_NUMERICS; ++k) {
        put_u32(&w, bits[k]);
    }
    return end_frame(&w, tx);
}

int vgl_encode_status(vgl_tx_t *tx, uint64_t time_us, const vgl_status_t *msg, uint8_t *out,
                      size_t out_size)
{
    vgl_writer_t w;
    if (check_out(tx, out) || msg == NULL) {
        return VGL_ERR_ARG;
    }
    begin_frame(&w, out, out_size, VGL_MSG_STATUS, tx->seq, time_us);
    put_u16(&w, msg->flags);
    put_u16(&w, msg->leads_off);
    put_u8(&w, msg->battery_pct);
    put_u16(&w, msg->fault_code);
    return end_frame(&w, tx);
}

static int encode_u32_msg(vgl_tx_t *tx, uint8_t type, uint64_t time_us, uint32_t v,
                          uint8_t *out, size_t out_size)
{
    vgl_writer_t w;
    if (check_out(tx, out)) {
        return VGL_ERR_ARG;
    }
    begin_frame(&w, out, out_size, type, tx->seq, time_us);
    put_u32(&w, v);
    return end_frame(&w, tx);
}

int vgl_encode_heartbeat(vgl_tx_t *tx, uint64_t time_us, uint32_t rx_frames, uint8_t *out,
                         size_t out_size)
{
    return encode_u32_msg(tx, VGL_MSG_HEARTBEAT, time_us, rx_frames, out, out_size);
}

int vgl_encode_ack(vgl_tx_t *tx, uint64_t time_us, uint32_t alarm_id, uint8_t *out,
                   size_t out_size)
{
    return encode_u32_msg(tx, VGL_MSG_ACK, time_us, alarm_id, out, out_size);
}

int vgl_encode_audio_pause(vgl_tx_t *tx, uint64_t time_us, uint16_t seconds, uint8_t *out,
                           size_t out_size)
{
    vgl_writer_t w;
    if (check_out(tx, out)) {
        return VGL_ERR_ARG;
    }
    begin_frame(&w, out, out_size, VGL_MSG_AUDIO_PAUSE, tx->seq, time_us);
    put_u16(&w, seconds);
    return end_frame(&w, tx);
}

int vgl_encode_alarm(vgl_tx_t *tx, uint64_t time_us, uint32_t alarm_id, uint8_t priority,
                     uint8_t state, uint8_t flags, const char *text, uint8_t *out,
                     size_t out_size)
{
    vgl_writer_t w;
    int rc;
    if (check_out(tx, out) || text == NULL) {
        return VGL_ERR_ARG;
    }
    if (priority > VGL_PRIO_HIGH || state > VGL_ALARM_AUDIO_PAUSED) {
        return VGL_ERR_RANGE;
    }
    begin_frame(&w, out, out_size, VGL_MSG_ALARM, tx->seq, time_us);
    put_u32(&w, alarm_id);
    put_u8(&w, priority);
    put_u8(&w, state);
    put_u8(&w, flags);
    rc = put_str8(&w, text, VGL_MAX_ALARM_TEXT);
    if (rc) {
        return rc;
    }
    return end_frame(&w, tx);
}

int vgl_encode_request_hello(vgl_tx_t *tx, uint64_t time_us, uint8_t *out, size_t out_size)
{
    vgl_writer_t w;
    if (check_out(tx, out)) {
        return VGL_ERR_ARG;
    }
    begin_frame(&w, out, out_size, VGL_MSG_REQUEST_HELLO, tx->seq, time_us);
    return end_frame(&w, tx);
}

int vgl_encode_host_heartbeat(vgl_tx_t *tx, uint64_t time_us, uint32_t rx_frames, uint8_t *out,
                              size_t out_size)
{
    return encode_u32_msg(tx, VGL_MSG_HOST_HEARTBEAT, time_us, rx_frames, out, out_size);
}

/* ---------------------------------------------------------------------- receiver */

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

int vgl_rx_init(vgl_rx_t *rx, uint8_t *buf, size_t buf_size)
{
    if (rx == NULL || buf == NULL) {
        return VGL_ERR_ARG;
    }
    if (buf_size < VGL_RX_BUFFER_MIN) {
        return VGL_ERR_SPACE;
    }
    memset(rx, 0, sizeof *rx);
    rx->buf = buf;
    rx->cap = VGL_MAX_ENCODED;
    return 0;
}

void vgl_rx_reset(vgl_rx_t *rx)
{
    if (rx == NULL) {
        return;
    }
    rx->counters.bytes_discarded += (uint32_t)rx->len;
    rx->len = 0;
    rx->skipping = 0;
}

static void track_seq(vgl_rx_t *rx, uint16_t seq)
{
    if (rx->have_seq && seq != rx->expected_seq) {
        rx->counters.seq_gaps++;
        rx->counters.frames_lost += (uint16_t)(seq - rx->expected_seq);
    }
    rx->expected_seq = (uint16_t)(seq + 1u);
    rx->have_seq = 1;
}

/* Payload -> message; 1 if well formed. `p` points at the payload, `n` its length. */
static int parse_host_payload(uint8_t type, const uint8_t *p, size_t n, vgl_host_msg_t *m)
{
    switch (type) {
    case VGL_MSG_REQUEST_HELLO:
        return n == 0u;
    case VGL_MSG_HOST_HEARTBEAT:
        if (n != 4u) {
            return 0;
        }
        m->rx_frames = get_u32(p);
        return 1;
    case VGL_MSG_ALARM: {
        size_t len;
        if (n < 8u) {
            return 0;
        }
        len = p[7];
        if (len > VGL_MAX_ALARM_TEXT || n != 8u + len || p[4] > VGL_PRIO_HIGH ||
            p[5] > VGL_ALARM_AUDIO_PAUSED || !utf8_valid(p + 8, len)) {
            return 0;
        }
        m->alarm.alarm_id = get_u32(p);
        m->alarm.priority = p[4];
        m->alarm.state = p[5];
        m->alarm.flags = p[6];
        m->alarm.text_len = (uint8_t)len;
        memcpy(m->alarm.text, p + 8, len);
        m->alarm.text[len] = '\0';
        return 1;
    }
    default:
        return 0;
    }
}

/* A whole COBS-encoded frame of `n` bytes is in rx->buf; `size` counts its delimiter. */
static int rx_frame(vgl_rx_t *rx, size_t n, vgl_host_msg_t *out)
{
    vgl_rx_counters_t *c = &rx->counters;
    uint32_t size = (uint32_t)n + 1u;
    const uint8_t *f = rx->buf;
    vgl_host_msg_t m;
    int decoded;
    size_t len;
    uint8_t type;
    uint16_t seq;

    if (n == 0u) {
        c->bytes_discarded += 1u;
        c->empty_frames++;
        return 0;
    }
    decoded = vgl_cobs_decode(rx->buf, n, rx->buf, rx->cap);
    if (decoded < 0) {
        c->bytes_discarded += size;
        c->cobs_errors++;
        return 0;
    }
    len = (size_t)decoded;
    if (len < VGL_MIN_FRAME) {
        c->bytes_discarded += size;
        c->runts++;
        return 0;
    }
    if (vgl_crc16_ccitt_false(f, len) != 0u) {
        c->bytes_discarded += size;
        c->crc_errors++;
        return 0;
    }
    if (f[0] != VGL_PROTOCOL_VERSION) {
        c->bytes_discarded += size;
        c->bad_version++;
        return 0;
    }
    type = f[1];
    seq = get_u16(f + 2);
    track_seq(rx, seq);
    if (type != VGL_MSG_ALARM && type != VGL_MSG_REQUEST_HELLO &&
        type != VGL_MSG_HOST_HEARTBEAT) {
        c->bytes_discarded += size;
        c->unknown_type++;
        return 0;
    }
    memset(&m, 0, sizeof m);
    m.type = type;
    m.seq = seq;
    m.time_us = get_u64(f + 4);
    if (!parse_host_payload(type, f + VGL_HEADER_SIZE, len - VGL_MIN_FRAME, &m)) {
        c->bytes_discarded += size;
        c->malformed++;
        return 0;
    }
    c->bytes_good += size;
    c->frames_ok++;
    *out = m;
    return 1;
}

int vgl_rx_feed_byte(vgl_rx_t *rx, uint8_t byte, vgl_host_msg_t *out)
{
    vgl_rx_counters_t *c;
    size_t n;
    if (rx == NULL || out == NULL || rx->buf == NULL) {
        return 0;
    }
    c = &rx->counters;
    c->bytes_in++;
    if (byte != 0u) {
        if (rx->skipping) {
            c->bytes_discarded++;
        } else if (rx->len >= rx->cap) {
            /* More than VGL_MAX_ENCODED bytes without a delimiter: drop them and the rest
             * of the run, count one oversize frame. */
            c->bytes_discarded += (uint32_t)rx->len + 1u;
            c->oversize++;
            rx->len = 0;
            rx->skipping = 1;
        } else {
            rx->buf[rx->len++] = byte;
        }
        return 0;
    }
    if (rx->skipping) {
        c->bytes_discarded++;
        rx->skipping = 0;
        return 0;
    }
    n = rx->len;
    rx->len = 0;
    return rx_frame(rx, n, out);
}

size_t vgl_rx_feed(vgl_rx_t *rx, const uint8_t *data, size_t len, vgl_host_msg_t *out,
                   int *got)
{
    size_t i;
    if (got != NULL) {
        *got = 0;
    }
    if (rx == NULL || out == NULL || (data == NULL && len)) {
        return 0;
    }
    for (i = 0; i < len; ++i) {
        if (vgl_rx_feed_byte(rx, data[i], out)) {
            if (got != NULL) {
                *got = 1;
            }
            return i + 1u;
        }
    }
    return len;
}

/* ---------------------------------------------------------------------- watchdog */

void vgl_watchdog_init(vgl_watchdog_t *wd, uint32_t timeout_ms, uint32_t now_ms)
{
    if (wd == NULL) {
        return;
    }
    wd->timeout_ms = timeout_ms ? timeout_ms : VGL_DEFAULT_HOST_TIMEOUT_MS;
    wd->last_heard_ms = now_ms;
    wd->state = VGL_WD_CONNECTED;
    wd->losses = 0;
}

void vgl_watchdog_host_frame(vgl_watchdog_t *wd, uint32_t now_ms)
{
    if (wd == NULL) {
        return;
    }
    wd->last_heard_ms = now_ms;
    wd->state = VGL_WD_CONNECTED;
}

vgl_wd_state_t vgl_watchdog_poll(vgl_watchdog_t *wd, uint32_t now_ms)
{
    if (wd == NULL) {
        return VGL_WD_HOST_LOST; /* fail safe: no watchdog is no host */
    }
    /* Unsigned subtraction is modulo 2^32: correct across the tick's wrap. */
    if (wd->state == VGL_WD_CONNECTED && (uint32_t)(now_ms - wd->last_heard_ms) >= wd->timeout_ms) {
        wd->state = VGL_WD_HOST_LOST;
        wd->losses++;
    }
    return wd->state;
}
