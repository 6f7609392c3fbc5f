/*
 * vigil_proto.h - the device side of the Vigil bedside-monitor wire protocol, version 1.
 *
 * Normative spec: docs/protocol.md. Byte-exact test vectors: firmware_bridge/vectors/.
 *
 * C99, no heap, no stdio, no math.h: only <stdint.h>, <stddef.h> and <string.h>. Every
 * buffer is supplied by the caller and every write is bounds checked. Serialisation is done
 * byte by byte (little-endian on the wire, CRC big-endian), so the code is correct on big-
 * and little-endian MCUs alike. Floats must be IEEE-754 binary32 (see README.md).
 *
 * Return convention of every function that writes bytes: the number of bytes written (> 0),
 * or a negative VGL_ERR_* code. On error the output buffer's contents are unspecified and
 * no state (such as a sequence counter) has changed.
 */
#ifndef VIGIL_PROTO_H
#define VIGIL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ constants */

#define VGL_PROTOCOL_VERSION 1u
#define VGL_HEADER_SIZE 12u
#define VGL_CRC_SIZE 2u
#define VGL_MIN_FRAME 14u                     /* header + CRC: a shorter frame is a runt */
#define VGL_MAX_FRAME 1024u                   /* decoded: header + payload + CRC */
#define VGL_MAX_PAYLOAD 1010u
#define VGL_MAX_ENCODED 1029u                 /* COBS(max frame), without the 0x00 */
#define VGL_MAX_WIRE (VGL_MAX_ENCODED + 1u)   /* one frame on the wire, delimiter included */
#define VGL_RX_BUFFER_MIN VGL_MAX_ENCODED     /* smallest buffer vgl_rx_init accepts */
#define VGL_CRC_INIT 0xFFFFu
/* Worst-case COBS output for n input bytes (no delimiter). */
#define VGL_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

#define VGL_MAX_CHANNELS 16u
#define VGL_MAX_WAVEFORM_SAMPLES 500u
#define VGL_MAX_DEVICE_ID 32u
#define VGL_MAX_FIRMWARE 32u
#define VGL_MAX_UNITS 8u
#define VGL_MAX_LABEL 16u
#define VGL_MAX_ALARM_TEXT 48u
#define VGL_NUM_NUMERICS 8u
#define VGL_DEFAULT_HOST_TIMEOUT_MS 5000u
#define VGL_DEFAULT_HEARTBEAT_MS 1000u
#define VGL_BATTERY_UNKNOWN 255u

/* Errors (negative return values). */
#define VGL_ERR_ARG (-1)   /* NULL pointer or an argument that makes no sense */
#define VGL_ERR_SPACE (-2) /* the output buffer is too small */
#define VGL_ERR_RANGE (-3) /* a field is outside the protocol's bounds (count, length, UTF-8) */
#define VGL_ERR_COBS (-4)  /* vgl_cobs_decode: the input is not valid COBS */

/* Message types (header byte 1). Bit 7 set = host -> device. */
enum {
    VGL_MSG_HELLO = 0x01,
    VGL_MSG_WAVEFORM = 0x02,
    VGL_MSG_NUMERICS = 0x03,
    VGL_MSG_STATUS = 0x04,
    VGL_MSG_HEARTBEAT = 0x05,
    VGL_MSG_ACK = 0x06,
    VGL_MSG_AUDIO_PAUSE = 0x07,
    VGL_MSG_ALARM = 0x81,
    VGL_MSG_REQUEST_HELLO = 0x82,
    VGL_MSG_HOST_HEARTBEAT = 0x85
};

/* HELLO channel kinds. */
enum {
    VGL_KIND_OTHER = 0,
    VGL_KIND_ECG_I = 1,
    VGL_KIND_ECG_II = 2,
    VGL_KIND_ECG_III = 3,
    VGL_KIND_ECG_AVR = 4,
    VGL_KIND_ECG_AVL = 5,
    VGL_KIND_ECG_AVF = 6,
    VGL_KIND_ECG_V = 7,
    VGL_KIND_PLETH = 16,
    VGL_KIND_RESPIRATION = 17,
    VGL_KIND_ARTERIAL_PRESSURE = 18,
    VGL_KIND_CO2 = 19
};

/* NUMERICS field indices (bit k of `valid`). */
enum {
    VGL_NUM_HR = 0,
    VGL_NUM_SPO2 = 1,
    VGL_NUM_PULSE_RATE = 2,
    VGL_NUM_NIBP_SYS = 3,
    VGL_NUM_NIBP_DIA = 4,
    VGL_NUM_NIBP_MEAN = 5,
    VGL_NUM_RESP_RATE = 6,
    VGL_NUM_TEMP = 7
};

/* STATUS flags. */
enum {
    VGL_STATUS_LEADS_OFF = 1 << 0,
    VGL_STATUS_PROBE_OFF = 1 << 1,
    VGL_STATUS_NIBP_IN_PROGRESS = 1 << 2,
    VGL_STATUS_DEVICE_FAULT = 1 << 3,
    VGL_STATUS_BATTERY_LOW = 1 << 4,
    VGL_STATUS_ON_BATTERY = 1 << 5
};

/* ALARM priority, state and flags. */
enum { VGL_PRIO_NONE = 0, VGL_PRIO_LOW = 1, VGL_PRIO_MEDIUM = 2, VGL_PRIO_HIGH = 3 };
enum {
    VGL_ALARM_ENDED = 0,
    VGL_ALARM_ACTIVE = 1,
    VGL_ALARM_LATCHED = 2,
    VGL_ALARM_ACKNOWLEDGED = 3,
    VGL_ALARM_AUDIO_PAUSED = 4
};
#define VGL_ALARM_FLAG_TECHNICAL 0x01u

/* ------------------------------------------------------------------------- helpers */

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR) of `len`
 * bytes. vgl_crc16_ccitt_false("123456789", 9) == 0x29B1. Over a whole frame, its own CRC
 * included, the result is 0. */
uint16_t vgl_crc16_ccitt_false(const uint8_t *data, size_t len);
/* One byte into a running CRC (start from VGL_CRC_INIT). */
uint16_t vgl_crc16_update(uint16_t crc, uint8_t byte);

/* COBS-encode `in_len` bytes (at most 0x7FFF) into `out` (no trailing delimiter).
 * Returns the encoded length, or VGL_ERR_*. `out` must not overlap `in`. Needs at most
 * VGL_COBS_MAX_ENCODED(in_len) bytes. Matches the Python `cobs` package byte for byte. */
int vgl_cobs_encode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size);
/* COBS-decode `in_len` bytes (at most 0x7FFF, no delimiter) into `out`. Returns the decoded
 * length, or VGL_ERR_COBS for invalid input (a 0x00 byte, or a block that runs past the end),
 * or VGL_ERR_SPACE/VGL_ERR_ARG. Decoding in place (out == in) is allowed: the output is
 * never longer than the input. */
int vgl_cobs_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size);

/* ------------------------------------------------------------ device -> host encoding */

/* The sender's side of the device -> host direction: each successful vgl_encode_* uses
 * tx->seq for its header and then increments it (65535 wraps to 0). A failed encode does
 * not consume a sequence number. */
typedef struct {
    uint16_t seq;
    uint32_t frames_sent; /* successful encodes, mod 2^32 */
} vgl_tx_t;

void vgl_tx_init(vgl_tx_t *tx, uint16_t first_seq);

/* One row of HELLO's channel table. Strings are NUL-terminated UTF-8 (validated). */
typedef struct {
    uint8_t id;        /* the id WAVEFORM frames name; unique within the HELLO */
    uint8_t kind;      /* VGL_KIND_* */
    uint32_t rate_num; /* sample rate = rate_num / rate_den samples/s, both >= 1 */
    uint16_t rate_den;
    float scale;  /* physical = raw * scale + offset; finite, non-zero */
    float offset; /* finite */
    const char *units; /* <= 8 bytes */
    const char *label; /* <= 16 bytes */
} vgl_channel_t;

typedef struct {
    uint32_t boot_id;        /* random at each boot */
    uint16_t time_scale_num; /* device us per real us = num/den; 1/1 live */
    uint16_t time_scale_den;
    uint16_t heartbeat_ms;
    uint16_t host_timeout_ms;
    const char *device_id; /* <= 32 bytes */
    const char *firmware;  /* <= 32 bytes */
    const vgl_channel_t *channels;
    uint8_t n_channels; /* 1..16 */
} vgl_hello_t;

typedef struct {
    uint16_t valid;                  /* bit k = values[k] is valid (VGL_NUM_*) */
    float values[VGL_NUM_NUMERICS];  /* hr, spo2, pulse_rate, nibp_sys/dia/mean, resp, temp */
} vgl_numerics_t;

typedef struct {
    uint16_t flags;     /* VGL_STATUS_* */
    uint16_t leads_off; /* bit k = k-th channel of the HELLO table is off */
    uint8_t battery_pct; /* 0..100, VGL_BATTERY_UNKNOWN */
    uint16_t fault_code; /* 0 none */
} vgl_status_t;

/* Each writes one complete wire frame (COBS(header|payload|CRC) followed by 0x00) into
 * `out` and returns its length (at most VGL_MAX_WIRE), or a negative VGL_ERR_*. */
int vgl_encode_hello(vgl_tx_t *tx, uint64_t time_us, const vgl_hello_t *msg, uint8_t *out,
                     size_t out_size);
/* `n` samples (1..500) of channel `channel`, the first being sample `first_index`. */
int vgl_encode_waveform(vgl_tx_t *tx, uint64_t time_us, uint8_t channel, uint64_t first_index,
                        const int16_t *samples, size_t n, uint8_t *out, size_t out_size);
/* A value whose valid bit is clear, or which is not finite, is sent as a quiet NaN with its
 * valid bit clear (the host never compares a NaN against an alarm limit). */
int vgl_encode_numerics(vgl_tx_t *tx, uint64_t time_us, const vgl_numerics_t *msg,
                        uint8_t *out, size_t out_size);
int vgl_encode_status(vgl_tx_t *tx, uint64_t time_us, const vgl_status_t *msg, uint8_t *out,
                      size_t out_size);
/* rx_frames: good frames received from the host, mod 2^32 (vgl_rx_t counters.frames_ok). */
int vgl_encode_heartbeat(vgl_tx_t *tx, uint64_t time_us, uint32_t rx_frames, uint8_t *out,
                         size_t out_size);
/* alarm_id 0 = every alarm the device is signalling. */
int vgl_encode_ack(vgl_tx_t *tx, uint64_t time_us, uint32_t alarm_id, uint8_t *out,
                   size_t out_size);
/* seconds 0 = the host's default (120 s). */
int vgl_encode_audio_pause(vgl_tx_t *tx, uint64_t time_us, uint16_t seconds, uint8_t *out,
                           size_t out_size);

/* Any frame from a ready payload (used by the encoders above; also handy for tests). */
int vgl_encode_frame(vgl_tx_t *tx, uint8_t type, uint64_t time_us, const uint8_t *payload,
                     size_t payload_len, uint8_t *out, size_t out_size);

/* Host -> device encoders (a host or a test harness written in C; the device never sends
 * these). `text` is NUL-terminated UTF-8, at most 48 bytes. */
int vgl_encode_alarm(vgl_tx_t *tx, uint64_t time_us, uint32_t alarm_id, uint8_t priority,
                     uint8_t state, uint8_t flags, const char *text, uint8_t *out,
                     size_t out_size);
int vgl_encode_request_hello(vgl_tx_t *tx, uint64_t time_us, uint8_t *out, size_t out_size);
int vgl_encode_host_heartbeat(vgl_tx_t *tx, uint64_t time_us, uint32_t rx_frames, uint8_t *out,
                              size_t out_size);

/* ------------------------------------------------------------- host -> device decoding */

typedef struct {
    uint32_t alarm_id;
    uint8_t priority; /* VGL_PRIO_*, 0..3 */
    uint8_t state;    /* VGL_ALARM_*, 0..4 */
    uint8_t flags;    /* bit 0: technical alarm (VGL_ALARM_FLAG_TECHNICAL) */
    uint8_t text_len; /* bytes of UTF-8 in text, 0..48 */
    char text[VGL_MAX_ALARM_TEXT + 1]; /* valid UTF-8, NUL-terminated for convenience */
} vgl_alarm_t;

/* A decoded host -> device message. Only the member matching `type` is meaningful. */
typedef struct {
    uint8_t type; /* VGL_MSG_ALARM, VGL_MSG_REQUEST_HELLO or VGL_MSG_HOST_HEARTBEAT */
    uint16_t seq;
    uint64_t time_us;   /* host's monotonic clock */
    vgl_alarm_t alarm;  /* type == VGL_MSG_ALARM */
    uint32_t rx_frames; /* type == VGL_MSG_HOST_HEARTBEAT: frames the host got from us */
} vgl_host_msg_t;

/* What the receiver saw, mod 2^32. Every byte fed ends up in bytes_good, bytes_discarded
 * or the pending partial frame: bytes_in == bytes_good + bytes_discarded + rx->len. The
 * names and rules match the Python decoder's DecoderCounters. */
typedef struct {
    uint32_t bytes_in;
    uint32_t bytes_good;      /* bytes of delivered frames, delimiter included */
    uint32_t bytes_discarded;
    uint32_t frames_ok;       /* messages delivered; send it back in HEARTBEAT */
    uint32_t empty_frames;    /* consecutive 0x00 */
    uint32_t cobs_errors;
    uint32_t crc_errors;
    uint32_t runts;           /* decoded frame shorter than 14 bytes */
    uint32_t oversize;        /* more than 1029 bytes without a delimiter */
    uint32_t bad_version;
    uint32_t unknown_type;    /* includes device -> host types */
    uint32_t malformed;       /* payload length or a field does not fit the type */
    uint32_t seq_gaps;
    uint32_t frames_lost;     /* sum of the gaps' sizes */
} vgl_rx_counters_t;

/* Streaming receiver for the host -> device direction. Fields are private except
 * `counters`. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;          /* bytes of the pending partial frame */
    uint8_t skipping;    /* inside an oversize run: discard up to the next 0x00 */
    uint8_t have_seq;
    uint16_t expected_seq;
    vgl_rx_counters_t counters;
} vgl_rx_t;

/* `buf` must hold at least VGL_RX_BUFFER_MIN (1029) bytes; only the first 1029 are used.
 * Returns 0, or VGL_ERR_ARG (NULL) / VGL_ERR_SPACE (buffer too small). */
int vgl_rx_init(vgl_rx_t *rx, uint8_t *buf, size_t buf_size);
/* Feed one received byte. Returns 1 when it completed a CRC-valid, well-formed host ->
 * device message, now in `*out`; 0 otherwise (`*out` untouched). Never fails on any input:
 * bad frames are counted and dropped, and the receiver resynchronises at the next 0x00. */
int vgl_rx_feed_byte(vgl_rx_t *rx, uint8_t byte, vgl_host_msg_t *out);
/* Feed up to `len` bytes, stopping right after a byte that completes a message. Returns the
 * number of bytes consumed; `*got` is set to 1 if a message is in `*out`, else 0. Call again
 * with the rest of the data until everything is consumed. */
size_t vgl_rx_feed(vgl_rx_t *rx, const uint8_t *data, size_t len, vgl_host_msg_t *out,
                   int *got);
/* Discard a partial frame (e.g. the UART reported a framing error or was re-opened). */
void vgl_rx_reset(vgl_rx_t *rx);

/* ----------------------------------------------------------- host-silence watchdog */

typedef enum { VGL_WD_CONNECTED = 0, VGL_WD_HOST_LOST = 1 } vgl_wd_state_t;

/* Section 4 of the spec. Times are the device's free-running u32 millisecond tick; all
 * arithmetic is modulo 2^32, so the 49.7-day wrap is harmless. Poll at least once per
 * timeout (a poll gap of 2^32 ms or more could hide a loss). */
typedef struct {
    uint32_t timeout_ms;
    uint32_t last_heard_ms;
    vgl_wd_state_t state;
    uint32_t losses; /* CONNECTED -> HOST_LOST transitions */
} vgl_watchdog_t;

/* Starts CONNECTED, as if the host had just been heard at `now_ms`, so a host that never
 * appears also ends in HOST_LOST. timeout_ms 0 means VGL_DEFAULT_HOST_TIMEOUT_MS. */
void vgl_watchdog_init(vgl_watchdog_t *wd, uint32_t timeout_ms, uint32_t now_ms);
/* Call on every valid host frame (vgl_rx_feed_byte returned 1): back to CONNECTED. */
void vgl_watchdog_host_frame(vgl_watchdog_t *wd, uint32_t now_ms);
/* HOST_LOST once no host frame arrived for timeout_ms (it stays HOST_LOST until the next
 * host frame): sound the alarm-system-failure signal. */
vgl_wd_state_t vgl_watchdog_poll(vgl_watchdog_t *wd, uint32_t now_ms);

#ifdef __cplusplus
}
#endif

#endif /* VIGIL_PROTO_H */
