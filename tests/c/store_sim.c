/* Power-cut simulation of the state store (firmware/store/mt_store.c) on the host,
 * the littlefs way: a RAM block device with NOR flash semantics (erase sets
 * 0xFF, program can only clear bits, programming a byte that is not erased is
 * counted as misuse) that cuts power at the k-th program/erase operation, for
 * every k, and, in torn mode, at every byte inside that operation (the bytes
 * before the cut written, the byte at the cut half written: some of its bits
 * cleared). After each cut the device "reboots": a fresh store loads, and the
 * state must be exactly the last completely saved one or the one whose save was
 * cut, never anything else; then two more saves and a load must give the newest.
 * Also: every single bit flip in both slots, two flips (one per slot), another
 * model's hash, another payload length, another format version, and the
 * sequence-number wrap.
 *
 * Output: one "geometry ..." line per geometry and a final line
 *   TOTAL cuts=N torn=T reboots=R states_lost=L wrong_state=W misuse=M flips=F flip_lost=X checks_failed=C
 * Exit status 0 when no state was lost and every check passed, 1 otherwise.
 * Usage: store_sim [quick]   (quick: fewer torn positions inside erases)
 *        store_sim dump DIR   (images of three saves per geometry, for the host reader)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "crc.h"
#include "mt_store.h"

#define MAX_REGION (64u * 1024u)
#define MAX_PAYLOAD 4096u
#define GENS 4 /* saves per cut run */

typedef struct {
    uint8_t mem[MAX_REGION];
    uint32_t bs, bc, ps;
    long ops;       /* prog + erase operations so far */
    long cut_at;    /* the operation that is cut (-1: none) */
    long torn_at;   /* bytes of the cut operation that are applied (-1: none) */
    uint8_t torn_bits; /* bits of the byte at the cut that do get cleared */
    int dead;       /* power is off: every call fails, nothing changes */
    long misuse;    /* programs of bytes that were not erased */
    long op_len[8192]; /* bytes of each operation (counting run) */
} simdev;

static simdev sim;
static mt_storage dev;

static long n_cuts, n_torn, n_reboots, n_lost, n_wrong, n_flips, n_flip_lost, n_failed;

#define CHECK(cond, ...)                                                                              \
    do {                                                                                              \
        if (!(cond)) {                                                                                \
            n_failed++;                                                                               \
            if (n_failed < 20) {                                                                      \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
                printf(__VA_ARGS__);                                                                  \
                printf("\n");                                                                         \
            }                                                                                         \
        }                                                                                             \
    } while (0)

static int op_begin(uint32_t len)
{
    if (sim.dead) {
        return -1;
    }
    if (sim.ops < (long)(sizeof sim.op_len / sizeof sim.op_len[0])) {
        sim.op_len[sim.ops] = (long)len;
    }
    if (sim.ops == sim.cut_at) {
        sim.dead = 1;
        return 1; /* this operation is cut */
    }
    sim.ops++;
    return 0;
}

static int sim_read(const mt_storage *d, uint32_t block, uint32_t off, void *buf, uint32_t len)
{
    (void)d;
    if (sim.dead) {
        return -1;
    }
    if (block >= sim.bc || off + len > sim.bs) {
        printf("FAIL read outside the region: block %u off %u len %u\n", block, off, len);
        n_failed++;
        return -1;
    }
    memcpy(buf, sim.mem + block * sim.bs + off, len);
    return 0;
}

static int sim_prog(const mt_storage *d, uint32_t block, uint32_t off, const void *buf, uint32_t len)
{
    const uint8_t *src = buf;
    uint8_t *p;
    uint32_t i, n;
    int cut;
    (void)d;
    if (block >= sim.bc || off + len > sim.bs || (off & (sim.ps - 1u)) != 0u || (len & (sim.ps - 1u)) != 0u) {
        printf("FAIL program outside the region or unaligned: block %u off %u len %u\n", block, off, len);
        n_failed++;
        return -1;
    }
    cut = op_begin(len);
    if (cut < 0) {
        return -1;
    }
    p = sim.mem + block * sim.bs + off;
    for (i = 0; i < len; i++) {
        if (p[i] != 0xFFu) {
            sim.misuse++;
        }
    }
    n = cut ? (sim.torn_at < 0 ? 0u : (uint32_t)sim.torn_at) : len;
    if (n > len) {
        n = len;
    }
    for (i = 0; i < n; i++) {
        p[i] &= src[i];
    }
    if (cut && sim.torn_at >= 0 && n < len) {
        p[n] &= (uint8_t)(src[n] | (uint8_t)~sim.torn_bits); /* some of its bits cleared */
    }
    return cut ? -1 : 0;
}

static int sim_erase(const mt_storage *d, uint32_t block)
{
    uint8_t *p;
    uint32_t n;
    int cut;
    (void)d;
    if (block >= sim.bc) {
        printf("FAIL erase outside the region: block %u\n", block);
        n_failed++;
        return -1;
    }
    cut = op_begin(sim.bs);
    if (cut < 0) {
        return -1;
    }
    p = sim.mem + block * sim.bs;
    n = cut ? (sim.torn_at < 0 ? 0u : (uint32_t)sim.torn_at) : sim.bs;
    if (n > sim.bs) {
        n = sim.bs;
    }
    memset(p, 0xFF, n);
    if (cut && sim.torn_at >= 0 && n < sim.bs) {
        p[n] |= sim.torn_bits; /* some of its bits set */
    }
    return cut ? -1 : 0;
}

static void sim_reset(uint32_t bs, uint32_t bc, uint32_t ps)
{
    sim.bs = bs;
    sim.bc = bc;
    sim.ps = ps;
    memset(sim.mem, 0xFF, sizeof sim.mem);
    sim.ops = 0;
    sim.cut_at = -1;
    sim.torn_at = -1;
    sim.dead = 0;
    dev.ctx = &sim;
    dev.block_size = bs;
    dev.block_count = bc;
    dev.prog_size = ps;
    dev.read = sim_read;
    dev.prog = sim_prog;
    dev.erase = sim_erase;
}

/* payload of generation g: u32 g, then xorshift bytes seeded by g */
static void make_payload(uint8_t *p, uint32_t len, uint32_t g)
{
    uint32_t x = 0x9E3779B9u ^ (g * 2654435761u), i;
    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x >> 24);
    }
    if (len >= 4u) {
        p[0] = (uint8_t)g;
        p[1] = (uint8_t)(g >> 8);
        p[2] = (uint8_t)(g >> 16);
        p[3] = (uint8_t)(g >> 24);
    }
}

static const char HASH[] = "0123456789abcdef";

/* save generation g as two pieces (a split payload, like state + schedule) */
static int save_gen(mt_store *st, uint32_t len, uint32_t g)
{
    static uint8_t buf[MAX_PAYLOAD];
    mt_store_cseg segs[2];
    make_payload(buf, len, g);
    segs[0].ptr = buf;
    segs[0].len = len / 3u;
    segs[1].ptr = buf + len / 3u;
    segs[1].len = len - len / 3u;
    return mt_store_save(st, segs, 2u);
}

/* load into a buffer (three pieces); returns the code, *gen the generation
 * whose bytes it holds exactly (0 if none of 1..maxgen) */
static int load_gen(mt_store *st, uint32_t len, uint32_t maxgen, uint32_t *gen, int *touched)
{
    static uint8_t buf[MAX_PAYLOAD], want[MAX_PAYLOAD];
    mt_store_seg segs[3];
    uint32_t g, i;
    int rc;
    memset(buf, 0xA5, len);
    segs[0].ptr = buf;
    segs[0].len = 7u;
    segs[1].ptr = buf + 7u;
    segs[1].len = len / 2u - 7u;
    segs[2].ptr = buf + len / 2u;
    segs[2].len = len - len / 2u;
    rc = mt_store_load(st, segs, 3u);
    *gen = 0u;
    *touched = 0;
    for (i = 0; i < len; i++) {
        if (buf[i] != 0xA5u) {
            *touched = 1;
            break;
        }
    }
    for (g = 1u; g <= maxgen; g++) {
        make_payload(want, len, g);
        if (memcmp(buf, want, len) == 0) {
            *gen = g;
        }
    }
    return rc;
}

typedef struct {
    uint32_t bs, bc, ps, len, seq_start;
} geometry;

/* One power cut at operation k (torn_at bytes of it applied, -1: none), during
 * GENS saves from a blank device, then reboot and check. */
static void cut_run(const geometry *g, long k, long torn_at, uint8_t torn_bits)
{
    mt_store st;
    uint32_t gen, done = 0u, inflight = 0u, got;
    int rc, touched;
    sim_reset(g->bs, g->bc, g->ps);
    sim.cut_at = k;
    sim.torn_at = torn_at;
    sim.torn_bits = torn_bits;
    rc = mt_store_init(&st, &dev, HASH, g->len);
    CHECK(rc == MT_STORE_OK, "init %d", rc);
    st.seq = g->seq_start;
    for (gen = 1u; gen <= GENS; gen++) {
        rc = save_gen(&st, g->len, gen);
        if (sim.dead) {
            inflight = gen;
            CHECK(rc == MT_STORE_E_IO, "a cut save returned %d", rc);
            break;
        }
        CHECK(rc == MT_STORE_OK, "save %u returned %d", gen, rc);
        done = gen;
    }
    n_cuts++;
    if (torn_at >= 0) {
        n_torn++;
    }
    /* reboot */
    sim.dead = 0;
    sim.cut_at = -1;
    n_reboots++;
    rc = mt_store_init(&st, &dev, HASH, g->len);
    CHECK(rc == MT_STORE_OK, "init after reboot %d", rc);
    rc = load_gen(&st, g->len, GENS, &got, &touched);
    if (rc == MT_STORE_OK) {
        if (got == 0u || (got != done && got != inflight)) {
            n_wrong++;
            if (done != 0u) {
                n_lost++; /* the last complete state was not the one loaded */
            }
            CHECK(0, "cut at op %ld (+%ld bytes): loaded bytes of generation %u, saved %u, in flight %u", k, torn_at,
                  got, done, inflight);
        } else {
            CHECK(st.seq == g->seq_start + got, "loaded seq %u for generation %u", st.seq, got);
        }
    } else {
        CHECK(!touched, "load %d touched the buffer", rc);
        if (done != 0u) {
            n_lost++;
            CHECK(0, "cut at op %ld (+%ld bytes): load returned %d (%s), generation %u was saved", k, torn_at, rc,
                  mt_store_strerror(rc), done);
        } else {
            CHECK(rc == MT_STORE_EMPTY || rc == MT_STORE_E_CORRUPT, "first save cut: load returned %d", rc);
        }
    }
    /* training goes on: two more saves, the newest loads */
    rc = save_gen(&st, g->len, GENS + 1u);
    CHECK(rc == MT_STORE_OK, "save after reboot %d", rc);
    rc = save_gen(&st, g->len, GENS + 2u);
    CHECK(rc == MT_STORE_OK, "second save after reboot %d", rc);
    rc = mt_store_init(&st, &dev, HASH, g->len);
    rc = load_gen(&st, g->len, GENS + 2u, &got, &touched);
    CHECK(rc == MT_STORE_OK && got == GENS + 2u, "after the reboot's saves: load %d generation %u", rc, got);
    n_reboots++;
}

/* every bit of both slots flipped once in a device holding generations 2 (older) and 3 (newer) */
static void flip_runs(const geometry *g)
{
    static uint8_t image[MAX_REGION];
    mt_store st;
    uint32_t gen, got, byte, bit, slot_newest, region, pos, p_off, c_off;
    int rc, touched, covered;
    sim_reset(g->bs, g->bc, g->ps);
    rc = mt_store_init(&st, &dev, HASH, g->len);
    for (gen = 1u; gen <= 3u; gen++) {
        rc = save_gen(&st, g->len, gen);
        CHECK(rc == MT_STORE_OK, "flip setup save %d", rc);
    }
    slot_newest = (uint32_t)st.newest;
    p_off = st.payload_off;
    c_off = st.commit_off;
    region = 2u * st.slot_blocks * g->bs;
    memcpy(image, sim.mem, region);
    for (byte = 0; byte < region; byte++) {
        uint32_t slot = byte >= st.slot_blocks * g->bs ? 1u : 0u;
        pos = byte - slot * st.slot_blocks * g->bs;
        covered = pos < MT_STORE_HEADER_BYTES || (pos >= p_off && pos < p_off + g->len) ||
                  (pos >= c_off && pos < c_off + MT_STORE_COMMIT_BYTES);
        for (bit = 0; bit < 8u; bit++) {
            memcpy(sim.mem, image, region);
            sim.mem[byte] ^= (uint8_t)(1u << bit);
            rc = mt_store_init(&st, &dev, HASH, g->len);
            rc = load_gen(&st, g->len, 3u, &got, &touched);
            n_flips++;
            if (slot == slot_newest && covered) {
                if (!(rc == MT_STORE_OK && got == 2u)) {
                    n_flip_lost++;
                    CHECK(0, "flip in the newest slot at %u bit %u: load %d generation %u (want 2)", pos, bit, rc, got);
                }
            } else if (!(rc == MT_STORE_OK && got == 3u)) {
                n_flip_lost++;
                CHECK(0, "flip at slot %u byte %u bit %u: load %d generation %u (want 3)", slot, pos, bit, rc, got);
            }
        }
    }
    /* one flip in each slot's payload: nothing valid, nothing loaded */
    memcpy(sim.mem, image, region);
    sim.mem[p_off] ^= 1u;
    sim.mem[st.slot_blocks * g->bs + p_off + g->len - 1u] ^= 0x80u;
    rc = mt_store_init(&st, &dev, HASH, g->len);
    rc = load_gen(&st, g->len, 3u, &got, &touched);
    CHECK(rc == MT_STORE_E_CORRUPT && !touched, "two damaged slots: load %d touched %d", rc, touched);
    CHECK(mt_store_slot_status(&st, 0) == MT_SLOT_DAMAGED && mt_store_slot_status(&st, 1) == MT_SLOT_DAMAGED,
          "two damaged slots: statuses %s %s", mt_store_slot_name(mt_store_slot_status(&st, 0)),
          mt_store_slot_name(mt_store_slot_status(&st, 1)));
    /* commit marker of the newest half written (a bit of it still erased): uncommitted, the older loads */
    memcpy(sim.mem, image, region);
    sim.mem[slot_newest * st.slot_blocks * g->bs + c_off + 3u] |= 0x01u;
    sim.mem[slot_newest * st.slot_blocks * g->bs + c_off + 3u] |= 0x80u;
    rc = mt_store_init(&st, &dev, HASH, g->len);
    rc = load_gen(&st, g->len, 3u, &got, &touched);
    CHECK(rc == MT_STORE_OK && got == 2u && mt_store_slot_status(&st, (int)slot_newest) == MT_SLOT_UNCOMMITTED,
          "uncommitted newest: load %d generation %u status %s", rc, got,
          mt_store_slot_name(mt_store_slot_status(&st, (int)slot_newest)));
    memcpy(sim.mem, image, region);
}

/* another model, another length, another format: reported, never loaded */
static void mismatch_runs(const geometry *g)
{
    mt_store st;
    uint32_t got;
    int rc, touched;
    uint8_t *h;
    sim_reset(g->bs, g->bc, g->ps);
    mt_store_init(&st, &dev, HASH, g->len);
    CHECK(save_gen(&st, g->len, 1u) == MT_STORE_OK, "save");
    CHECK(save_gen(&st, g->len, 2u) == MT_STORE_OK, "save");

    rc = mt_store_init(&st, &dev, "fedcba9876543210", g->len);
    rc = load_gen(&st, g->len, 2u, &got, &touched);
    CHECK(rc == MT_STORE_E_MODEL && !touched, "other model: load %d touched %d", rc, touched);
    CHECK(mt_store_slot_status(&st, 0) == MT_SLOT_OTHER_MODEL, "other model: status %d", mt_store_slot_status(&st, 0));

    rc = mt_store_init(&st, &dev, HASH, g->len - 1u);
    rc = load_gen(&st, g->len - 1u, 0u, &got, &touched);
    CHECK(rc == MT_STORE_E_SIZE && !touched, "other length: load %d touched %d", rc, touched);

    /* format 2 in both headers (CRC made right): another format */
    h = sim.mem;
    h[4] = 2u;
    {
        uint32_t c = mt_crc32(0u, h, 36u);
        h[36] = (uint8_t)c; h[37] = (uint8_t)(c >> 8); h[38] = (uint8_t)(c >> 16); h[39] = (uint8_t)(c >> 24);
    }
    h = sim.mem + st.slot_blocks * g->bs;
    h[4] = 2u;
    {
        uint32_t c = mt_crc32(0u, h, 36u);
        h[36] = (uint8_t)c; h[37] = (uint8_t)(c >> 8); h[38] = (uint8_t)(c >> 16); h[39] = (uint8_t)(c >> 24);
    }
    rc = mt_store_init(&st, &dev, HASH, g->len);
    rc = load_gen(&st, g->len, 2u, &got, &touched);
    CHECK(rc == MT_STORE_E_FORMAT && !touched, "other format: load %d touched %d", rc, touched);

    /* a blank device */
    sim_reset(g->bs, g->bc, g->ps);
    rc = mt_store_init(&st, &dev, HASH, g->len);
    rc = load_gen(&st, g->len, 0u, &got, &touched);
    CHECK(rc == MT_STORE_EMPTY && !touched, "blank: load %d", rc);

    /* a region too small for two slots */
    dev.block_count = 1u;
    CHECK(mt_store_init(&st, &dev, HASH, g->len) == MT_STORE_E_CONFIG, "one block accepted");
    dev.block_count = g->bc;
    dev.prog_size = 3u;
    CHECK(mt_store_init(&st, &dev, HASH, g->len) == MT_STORE_E_CONFIG, "prog_size 3 accepted");
    dev.prog_size = g->ps;
}

/* sequence numbers across the wrap: the newest is always the one loaded */
static void wrap_runs(const geometry *g)
{
    mt_store st;
    uint32_t gen, got;
    int rc, touched;
    sim_reset(g->bs, g->bc, g->ps);
    mt_store_init(&st, &dev, HASH, g->len);
    st.seq = 0xFFFFFFFCu;
    for (gen = 1u; gen <= 7u; gen++) {
        CHECK(save_gen(&st, g->len, gen) == MT_STORE_OK, "wrap save %u", gen);
        rc = mt_store_init(&st, &dev, HASH, g->len);
        rc = load_gen(&st, g->len, 7u, &got, &touched);
        CHECK(rc == MT_STORE_OK && got == gen && st.seq == 0xFFFFFFFCu + gen, "wrap: load %d gen %u seq %08x", rc,
              got, st.seq);
    }
}

/* "dump DIR": for each geometry, three saves (generations 1..3, from the geometry's seq
 * start) on a blank device, the region written to DIR/image<i>.bin (for the host reader
 * mcutrain/store/slots.py). */
static int dump_images(const geometry *geos, size_t n, const char *dir)
{
    size_t gi;
    for (gi = 0; gi < n; gi++) {
        const geometry *g = &geos[gi];
        char path[512];
        FILE *f;
        mt_store st;
        uint32_t gen;
        sim_reset(g->bs, g->bc, g->ps);
        mt_store_init(&st, &dev, HASH, g->len);
        st.seq = g->seq_start;
        for (gen = 1u; gen <= 3u; gen++) {
            if (save_gen(&st, g->len, gen) != MT_STORE_OK) {
                return 2;
            }
        }
        snprintf(path, sizeof path, "%s/image%u.bin", dir, (unsigned)gi);
        f = fopen(path, "wb");
        if (f == NULL || fwrite(sim.mem, 1, g->bs * g->bc, f) != g->bs * g->bc) {
            return 3;
        }
        fclose(f);
        printf("image%u block_size=%u prog_size=%u payload=%u seq_start=%u\n", (unsigned)gi, g->bs, g->ps, g->len,
               g->seq_start);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const geometry geos[] = {
        /* block size, blocks, prog size, payload bytes, seq start */
        {256u, 16u, 1u, 1000u, 0u},          /* 5 blocks per slot, byte programming (STM32F4-like) */
        {4096u, 2u, 8u, 1000u, 0u},          /* one block per slot, 8-byte programming (STM32L4-like) */
        {128u, 64u, 16u, 777u, 0xFFFFFFFEu}, /* odd length; cuts across the sequence-number wrap */
        {64u, 40u, 4u, 333u, 0u},            /* chunks cross block boundaries */
    };
    static long op_lens[8192];
    int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    size_t gi;
    if (argc > 2 && strcmp(argv[1], "dump") == 0) {
        return dump_images(geos, sizeof geos / sizeof geos[0], argv[2]);
    }
    for (gi = 0; gi < sizeof geos / sizeof geos[0]; gi++) {
        const geometry *g = &geos[gi];
        long total, k, t, before_cuts = n_cuts, before_lost = n_lost;
        mt_store st;
        uint32_t gen;
        /* count the operations of GENS saves */
        sim_reset(g->bs, g->bc, g->ps);
        mt_store_init(&st, &dev, HASH, g->len);
        for (gen = 1u; gen <= GENS; gen++) {
            CHECK(save_gen(&st, g->len, gen) == MT_STORE_OK, "uncut save %u", gen);
        }
        total = sim.ops;
        CHECK(total <= (long)(sizeof op_lens / sizeof op_lens[0]), "too many operations %ld", total);
        memcpy(op_lens, sim.op_len, sizeof op_lens);
        for (k = 0; k < total; k++) {
            long len_of_op;
            cut_run(g, k, -1, 0u); /* the whole operation lost */
            /* the same operation torn at every byte (an erase at every 61st byte in quick mode;
             * t = the length: all of it done, the cut before it returned) */
            len_of_op = op_lens[k];
            for (t = 0; t <= len_of_op; t += (t < (long)MT_STORE_CHUNK || !quick) ? 1 : 61) {
                cut_run(g, k, t, (uint8_t)(0x5Au ^ (uint8_t)t));
            }
        }
        printf("geometry block_size=%u blocks=%u prog_size=%u payload=%u seq_start=%u ops_per_%d_saves=%ld "
               "cuts=%ld states_lost=%ld\n",
               g->bs, g->bc, g->ps, g->len, g->seq_start, GENS, total, n_cuts - before_cuts, n_lost - before_lost);
        flip_runs(g);
        mismatch_runs(g);
        wrap_runs(g);
    }
    printf("TOTAL cuts=%ld torn=%ld reboots=%ld states_lost=%ld wrong_state=%ld misuse=%ld flips=%ld flip_lost=%ld "
           "checks_failed=%ld\n",
           n_cuts, n_torn, n_reboots, n_lost, n_wrong, sim.misuse, n_flips, n_flip_lost, n_failed);
    return (n_lost == 0 && n_wrong == 0 && n_flip_lost == 0 && n_failed == 0 && sim.misuse == 0) ? 0 : 1;
}
