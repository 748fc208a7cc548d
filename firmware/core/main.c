/*
 * main.c - device side of the mcutrain serial protocol, version 3.
 *
 * See docs/protocol.md. The loop reads one frame at a time, acts on it and
 * answers; every malformed input gets an `X` frame and the loop goes on.
 * Data frames (`T`, `E`) carry a sequence number: the device consumes them
 * strictly in order, drops any other (a duplicate or one after a lost frame)
 * and asks the host once with `N` to go back to the frame it expects. It
 * never waits for the host: acknowledgements are cumulative and periodic.
 * A sample larger than one frame arrives as SAMPLE_PARTS `Q` frames (sample
 * parts, copied into a static buffer in order) and a final `T`/`E` frame with
 * the rest; every one of them is a numbered data frame.
 * Calls only the board API (board.h), the framing (link.h) and the
 * generated model API (mt_model.h). No heap, no multiplication or division.
 */
#include <stdint.h>

#include "board.h"
#include "link.h"
#include "mt_model.h"
#include "mt_runtime.h"   /* little-endian words (shared with the generated code) */

#define PROTO_VERSION   3u
#define ACK_EVERY       16u   /* data frames per `A` */
#define PROGRESS_EVERY  64u   /* trained samples per `P` */
#define PRED_EVERY      64u   /* evaluated samples per `R` */
#define WEIGHT_CHUNK    192u  /* state bytes per `w` */

#define ERR_CRC          1u
#define ERR_COBS         2u   /* bad COBS, frame too short or too long */
#define ERR_TYPE         3u
#define ERR_LENGTH       4u
#define ERR_NOT_STARTED  5u
#define ERR_VALUE        6u   /* field out of range (label >= MT_N_CLASSES) */
#define ERR_RESTORE      7u   /* `K`: the state bytes do not match the checkpoint's digest */

/* Sample parts (docs/protocol.md, "Samples larger than one frame"): a sample of
 * more than TAIL_MAX bytes travels as SAMPLE_PARTS `Q` frames of PART_BYTES
 * bytes each (type, u16 seq, u16 offset, bytes: 255) and a `T`/`E` frame with
 * the last TAIL_BYTES (type, u16 seq, label, bytes: <= 255). Compile-time
 * constants: no division on the device. */
#define TAIL_MAX        251u
#define PART_BYTES      250u
#if (MT_INPUT_BYTES) > 65535
#error "a sample part's offset is a u16: MT_INPUT_BYTES must be <= 65535"
#endif
#if (MT_INPUT_BYTES) < 1
#error "MT_INPUT_BYTES must be >= 1"
#endif
#if (MT_INPUT_BYTES) > 251
#define SAMPLE_PARTS    (((MT_INPUT_BYTES) - 1u) / PART_BYTES)
#else
#define SAMPLE_PARTS    0u
#endif
#define PARTS_BYTES     (SAMPLE_PARTS * PART_BYTES)
#define TAIL_BYTES      ((MT_INPUT_BYTES) - PARTS_BYTES)
#if (MT_SCHED_BYTES) + 16 > 254
#error "MT_SCHED_BYTES too large for a `C`/`K` frame"
#endif
#if (MT_N_CLASSES) > 256 || (MT_N_CLASSES) < 1
#error "MT_N_CLASSES must be 1..256"
#endif

/* ------------------------------------------------------------ session state */

static uint8_t started;
static uint16_t digest_every;
static uint32_t checkpoint_every;
static uint32_t frames_done;     /* T + E frames consumed since `S` (or `K`): the next expected seq */
static uint32_t samples_trained; /* T frames consumed since `S`, plus the checkpoint's on `K` */
static uint32_t ack_count;       /* data frames since the last periodic `A` */
static uint32_t digest_count;    /* trained samples since the last periodic `D` */
static uint32_t ckpt_count;      /* trained samples since the last checkpoint */
static uint32_t p_count;         /* trained samples since the last `P` */
static uint32_t p_hinge;         /* cumulative since `S` (restored by `K`) */
static uint32_t p_errors;        /* cumulative since `S` (restored by `K`) */
static uint8_t nak_sent;         /* an `N` for the current frames_done has been sent */
static uint8_t preds[PRED_EVERY];
static uint32_t pred_n;
static uint32_t pred_first;      /* eval index of preds[0] */

static uint8_t out[LINK_MAX_PAYLOAD]; /* body of the frame being sent */

#if SAMPLE_PARTS > 0
static uint8_t sample[MT_INPUT_BYTES]; /* the sample being assembled from `Q` frames */
#endif
static uint32_t assembled;       /* sample bytes received in `Q` frames for the next `T`/`E` */

/* ------------------------------------------------------------------ helpers */

static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
}

static uint32_t get_u16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t put_str(uint8_t *p, uint32_t at, const char *s)
{
    while (*s != '\0' && at < LINK_MAX_PAYLOAD - 1u) {
        p[at++] = (uint8_t)*s++;
    }
    return at;
}

static uint32_t put_hex8(uint8_t *p, uint32_t at, uint8_t v)
{
    static const char digits[] = "0123456789abcdef";
    at = put_str(p, at, "0x");
    p[at++] = (uint8_t)digits[v >> 4];
    p[at++] = (uint8_t)digits[v & 0x0Fu];
    return at;
}

/* `X`: u8 code, char[] text ("<text>" or "<text> <type as 0xNN>"). */
static void send_error(uint8_t code, const char *text, int type)
{
    uint32_t n;
    out[0] = code;
    n = put_str(out, 1u, text);
    if (type >= 0) {
        n = put_str(out, n, " ");
        n = put_hex8(out, n, (uint8_t)type);
    }
    link_send('X', out, n);
}

/* `A`: u32 frames_done, u8 token (that of the `F` it answers, 0 otherwise). */
static void send_ack_token(uint8_t token)
{
    mt_put_le32(out, frames_done);
    out[4] = token;
    link_send('A', out, 5u);
}

static void send_ack(void)
{
    send_ack_token(0u);
}

static void send_nak(void)
{
    mt_put_le32(out, frames_done);
    link_send('N', out, 4u);
}

/* `P`: cumulative counts, so a lost `P` loses nothing. */
static void send_progress(void)
{
    mt_put_le32(out, samples_trained);
    mt_put_le32(out + 4, p_hinge);
    mt_put_le32(out + 8, p_errors);
    link_send('P', out, 12u);
    p_count = 0;
}

static void send_digest(void)
{
    mt_put_le32(out, samples_trained);
    mt_put_le32(out + 4, mt_state_digest());
    mt_put_le32(out + 8, mt_prng_state());
    link_send('D', out, 12u);
}

static void send_predictions(void)
{
    uint32_t i;
    mt_put_le32(out, pred_first);
    out[4] = (uint8_t)pred_n;
    for (i = 0; i < pred_n; i++) {
        out[5u + i] = preds[i];
    }
    link_send('R', out, 5u + pred_n);
    pred_first += pred_n;
    pred_n = 0;
}

static void send_info(void)
{
    const char *hash = MT_MODEL_HASH;
    const char *name = board_name();
    uint32_t i;
    uint32_t n;

    out[0] = (uint8_t)PROTO_VERSION;
    for (i = 0; i < 16u; i++) {
        out[1u + i] = (uint8_t)*hash;
        if (*hash != '\0') {
            hash++;
        }
    }
    put_u16(out + 17, (uint32_t)(MT_INPUT_BYTES));
    out[19] = (uint8_t)(MT_N_CLASSES);
    mt_put_le32(out + 20, (uint32_t)(MT_STATE_BYTES));
    n = 25u;
    if (name == 0) {
        name = "";
    }
    n = put_str(out, n, name);
    out[24] = (uint8_t)(n - 25u);
    link_send('I', out, n);
}

/* One `w`: state bytes [off, off + n), n <= WEIGHT_CHUNK, clipped to the state. */
static void send_chunk(uint32_t off, uint32_t n)
{
    const uint8_t *state = mt_state_bytes();
    uint32_t i;
    if (off > (uint32_t)(MT_STATE_BYTES)) {
        off = (uint32_t)(MT_STATE_BYTES);
    }
    if (n > (uint32_t)(MT_STATE_BYTES) - off) {
        n = (uint32_t)(MT_STATE_BYTES) - off;
    }
    mt_put_le32(out, off);
    for (i = 0; i < n; i++) {
        out[4u + i] = state[off + i];
    }
    link_send('w', out, 4u + n);
}

static void send_all_chunks(void)
{
    uint32_t off = 0;
    while (off < (uint32_t)(MT_STATE_BYTES)) {
        send_chunk(off, WEIGHT_CHUNK);
        off += WEIGHT_CHUNK;
    }
}

static void send_weights(void)
{
    send_all_chunks();
    send_digest();
}

/* The checkpoint record (body of `C`, and of `K` after its header): u32
 * samples_trained, u32 hinge_sum, u32 errors, u32 state_crc32, u8[MT_SCHED_BYTES]. */
static void send_checkpoint_record(void)
{
    mt_put_le32(out, samples_trained);
    mt_put_le32(out + 4, p_hinge);
    mt_put_le32(out + 8, p_errors);
    mt_put_le32(out + 12, mt_state_digest());
    mt_sched_save(out + 16);
    link_send('C', out, 16u + (uint32_t)(MT_SCHED_BYTES));
}

static void send_checkpoint(void)
{
    send_all_chunks();
    send_checkpoint_record();
}

/* After each consumed T or E frame. */
static void data_frame_done(void)
{
    frames_done++;
    nak_sent = 0;
    if (++ack_count == ACK_EVERY) {
        ack_count = 0;
        send_ack();
    }
}

/* ----------------------------------------------------------------- messages */

static void reset_counters(void)
{
    frames_done = 0;
    samples_trained = 0;
    ack_count = 0;
    digest_count = 0;
    ckpt_count = 0;
    p_count = 0;
    p_hinge = 0;
    p_errors = 0;
    pred_n = 0;
    pred_first = 0;
    nak_sent = 0;
    assembled = 0;   /* a partial sample is discarded */
}

static void on_start(const uint8_t *b)
{
    uint32_t seed = mt_get_le32(b);
    uint32_t per_epoch = mt_get_le32(b + 4);
    digest_every = (uint16_t)get_u16(b + 8);
    checkpoint_every = mt_get_le32(b + 10);
    mt_session_start(seed, per_epoch);
    started = 1;
    reset_counters();
    send_ack();
}

/* v mod m by subtraction (no division on the device); m > 0. */
static uint32_t phase(uint32_t v, uint32_t m)
{
    while (v >= m) {
        v -= m;
    }
    return v;
}

/* `K`: restore a checkpoint after `S` (same seed, samples per epoch and
 * cadences) and `U` (its state bytes). */
static void on_restore(const uint8_t *b)
{
    uint32_t want_crc = mt_get_le32(b + 12);
    if (mt_state_digest() != want_crc) {
        send_error(ERR_RESTORE, "state bytes do not match the checkpoint digest: upload them again", -1);
        return;
    }
    mt_sched_load(b + 16);
    reset_counters();
    samples_trained = mt_get_le32(b);
    p_hinge = mt_get_le32(b + 4);
    p_errors = mt_get_le32(b + 8);
    if (digest_every != 0u) {
        digest_count = phase(samples_trained, digest_every);
    }
    if (checkpoint_every != 0u) {
        ckpt_count = phase(samples_trained, checkpoint_every);
    }
    p_count = samples_trained & (PROGRESS_EVERY - 1u);
    send_ack();
}

/* `U`: write state bytes (checkpoint upload); answered with `u`. */
static void on_upload(const uint8_t *b, uint32_t blen)
{
    uint32_t off = mt_get_le32(b);
    uint32_t n = blen - 4u;
    uint8_t *state = mt_state_buffer();
    uint32_t i;
    if (n == 0u || n > WEIGHT_CHUNK || off > (uint32_t)(MT_STATE_BYTES) ||
        n > (uint32_t)(MT_STATE_BYTES) - off) {
        send_error(ERR_VALUE, "upload outside the state bytes", 'U');
        return;
    }
    for (i = 0; i < n; i++) {
        state[off + i] = b[4u + i];
    }
    mt_put_le32(out, off);
    out[4] = (uint8_t)n;
    link_send('u', out, 5u);
}

static void send_checkpoint_record(void);

/* `W` with a body: u32 offset, u8 n: one `w` of n bytes, or (n = 0) a `D`,
 * or (n = 0, offset 0xFFFFFFFF) the checkpoint record `C` of the state now. */
static void on_weights_part(const uint8_t *b)
{
    uint32_t off = mt_get_le32(b);
    uint32_t n = b[4];
    if (n == 0u && off == 0xFFFFFFFFu) {
        send_checkpoint_record();
    } else if (n == 0u) {
        send_digest();
    } else if (n > WEIGHT_CHUNK || off >= (uint32_t)(MT_STATE_BYTES)) {
        send_error(ERR_VALUE, "weights request outside the state bytes", 'W');
    } else {
        send_chunk(off, n);
    }
}

/* Data frames: 1 if seq is the frame expected next; else drop it, asking
 * the host (once per position and receive error) to go back with `N`. */
static int in_sequence(const uint8_t *b)
{
    if (get_u16(b) == (frames_done & 0xFFFFu)) {
        return 1;
    }
    if (!nak_sent) {
        nak_sent = 1;
        send_nak();
    }
    return 0;
}

static void on_train(const uint8_t *x, uint8_t label)
{
    uint8_t pred = mt_train_step(x, label);
    samples_trained++;
    p_hinge += mt_last_hinge();
    if (pred != label) {
        p_errors++;
    }
    if (++p_count == PROGRESS_EVERY) {
        send_progress();
    }
    if (digest_every != 0u && ++digest_count == digest_every) {
        digest_count = 0;
        send_digest();
    }
    if (checkpoint_every != 0u && ++ckpt_count == checkpoint_every) {
        ckpt_count = 0;
        send_checkpoint();
    }
    data_frame_done();
}

static void on_eval(const uint8_t *x)
{
    preds[pred_n++] = mt_infer(x);
    if (pred_n == PRED_EVERY) {
        send_predictions();
    }
    data_frame_done();
}

static void on_flush(uint8_t token)
{
    send_progress();
    if (pred_n != 0u) {
        send_predictions();
    }
    send_ack_token(token);
}

/* The sample of a consumed `T`/`E` frame whose last bytes are `tail`
 * (TAIL_BYTES): the frame itself for one-frame samples, else the assembled
 * buffer with the tail copied after the parts. 0 (after an X 6, the partial
 * sample discarded) if parts are missing. */
static const uint8_t *whole_sample(const uint8_t *tail, uint8_t type)
{
#if SAMPLE_PARTS > 0
    uint32_t i;
    if (assembled != PARTS_BYTES) {
        assembled = 0;
        send_error(ERR_VALUE, "sample incomplete: sample parts (Q) missing before", type);
        return 0;
    }
    assembled = 0;
    for (i = 0; i < TAIL_BYTES; i++) {
        sample[PARTS_BYTES + i] = tail[i];
    }
    return sample;
#else
    (void)type;
    return tail;
#endif
}

/* `Q`: u16 seq, u16 offset, u8[PART_BYTES]: the next part of a sample, in order. */
static void on_part(const uint8_t *b)
{
#if SAMPLE_PARTS > 0
    uint32_t off = get_u16(b + 2);
    uint32_t i;
    if (off != assembled) {
        assembled = 0;
        send_error(ERR_VALUE, off >= PARTS_BYTES ? "sample part beyond the sample's parts"
                                                 : "sample part out of order (offset not the next byte)", 'Q');
        return;
    }
    for (i = 0; i < PART_BYTES; i++) {
        sample[off + i] = b[4u + i];
    }
    assembled = off + PART_BYTES;
    data_frame_done();
#else
    (void)b;
#endif
}

/* Returns 1 if the body has the expected length, else answers with X 4. */
static int body_is(uint32_t got, uint32_t want, uint8_t type)
{
    if (got != want) {
        send_error(ERR_LENGTH, "bad body length for", type);
        return 0;
    }
    return 1;
}

static int need_started(uint8_t type)
{
    if (!started) {
        send_error(ERR_NOT_STARTED, "not started (send S first) for", type);
        return 0;
    }
    return 1;
}

static void on_frame(const uint8_t *p, uint32_t len)
{
    uint8_t type = p[0];
    const uint8_t *b = p + 1;
    uint32_t blen = len - 1u;

    switch (type) {
    case 'H':
        if (body_is(blen, 0u, type)) {
            send_info();
        }
        break;
    case 'S':
        if (body_is(blen, 14u, type)) {
            on_start(b);
        }
        break;
    case 'T':
        if (body_is(blen, 3u + (uint32_t)(TAIL_BYTES), type) && need_started(type)) {
            if (b[2] >= (uint32_t)(MT_N_CLASSES)) {
                send_error(ERR_VALUE, "label out of range", b[2]);
            } else if (in_sequence(b)) {
                const uint8_t *x = whole_sample(b + 3, type);
                if (x != 0) {
                    on_train(x, b[2]);
                }
            }
        }
        break;
    case 'E':
        if (body_is(blen, 2u + (uint32_t)(TAIL_BYTES), type) && need_started(type) && in_sequence(b)) {
            const uint8_t *x = whole_sample(b + 2, type);
            if (x != 0) {
                on_eval(x);
            }
        }
        break;
    case 'Q':
        if (SAMPLE_PARTS == 0u) {
            send_error(ERR_LENGTH, "bad body length (this model's samples fit one frame: no parts) for", type);
        } else if (body_is(blen, 4u + PART_BYTES, type) && need_started(type) && in_sequence(b)) {
            on_part(b);
        }
        break;
    case 'U':
        if (blen < 5u || blen > 4u + WEIGHT_CHUNK) {
            send_error(ERR_LENGTH, "bad body length for", type);
        } else {
            on_upload(b, blen);
        }
        break;
    case 'K':
        if (body_is(blen, 16u + (uint32_t)(MT_SCHED_BYTES), type) && need_started(type)) {
            on_restore(b);
        }
        break;
    case 'F':
        if (body_is(blen, 1u, type)) {
            on_flush(b[0]);
        }
        break;
    case 'W':
        if (blen == 0u) {
            send_weights();
        } else if (body_is(blen, 5u, type)) {
            on_weights_part(b);
        }
        break;
    default:
        send_error(ERR_TYPE, "unknown message type", type);
        break;
    }
}

int main(void)
{
    board_init();
    link_rx_reset();
    for (;;) {
        const uint8_t *payload;
        uint32_t len;
        int r = link_recv(&payload, &len);
        switch (r) {
        case LINK_FRAME:
            on_frame(payload, len);
            break;
        case LINK_ERR_CRC:
            nak_sent = 0; /* the frame lost here may be the one expected: ask again */
            send_error(ERR_CRC, "bad CRC", -1);
            break;
        case LINK_ERR_COBS:
            nak_sent = 0;
            send_error(ERR_COBS, "bad COBS", -1);
            break;
        case LINK_ERR_SHORT:
            nak_sent = 0;
            send_error(ERR_COBS, "frame too short", -1);
            break;
        default:
            nak_sent = 0;
            send_error(ERR_COBS, "frame too long", -1);
            break;
        }
    }
}
