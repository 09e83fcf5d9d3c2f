/* Ingestion's hot path (driven by warehouse/fastrows.py, which falls back to polars whenever
 * this module is missing or refuses its input): scan_logs reads an eth_getLogs answer in place,
 * classify makes the per-log checks the quarantine reads, encode_rows writes binary COPY rows.
 * Each is described above its code.
 *
 * Binary COPY rows for fixed-layout event logs, straight from their hex text.
 *
 * Why: the fill tables are most of what ingestion lands, and their rows are fixed text slices
 * (hashes, addresses) and uint256 words. Going through polars string columns (a decimal
 * string per uint256, then base-10000 digits out of it) cost about 5 CPU-s per million fills
 * beside the server's ~3; this loop writes the same rows in a fraction of a second
 * (bench-ingest). The Python side (warehouse/fastrows.py) lays out the columns, checks widths
 * and falls back to the polars path whenever this module is missing or refuses a batch.
 *
 * encode_rows(n, columns) -> bytes: the rows (no header, no trailer) of PostgreSQL's binary
 * COPY format: per row an int16 field count, then per field an int32 length (-1 = NULL) and
 * the value, all big-endian. Each column is a tuple:
 *   ("fixed", src, row_width, start, width, prefix, mask)  `width` bytes at `start` of each
 *        row, after `prefix` (bytes); mask: None or an (n,) uint8 buffer, nonzero = NULL.
 *        src: a C-contiguous (n, row_width) uint8 buffer, or (string-view column, value_len):
 *        read in place (row_width then unused), every value value_len bytes long
 *   ("numeric", src, row_width, start)  the 64 hex characters at `start` of each row as an
 *        unsigned 256-bit integer, sent as numeric (base-10000 digits, no leading zero digit)
 *   ("int2hex", src, row_width, start)  the 2 hex characters at `start` as an int2 (a uint8 word)
 *   ("const", payload)   the same value in every row
 *   ("null",)            NULL in every row
 * Raises ValueError on a character that is not lowercase hex (the caller then takes its
 * slower path, which quarantines such logs before they get here).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum kind { K_FIXED, K_NUMERIC, K_INT2HEX, K_CONST, K_NULL };

/* A string-view column (Arrow's string_view, as polars holds strings), read in place: 16-byte
 * views, each an int32 length then either the value itself (12 bytes or fewer) or a 4-byte
 * prefix, an int32 buffer index and an int32 offset (little-endian), into data buffers; an
 * optional validity bitmap. From Python: ("views", views, (data buffers...), validity or
 * None, offset), `offset` rows into views and validity. */
typedef struct {
    Py_buffer views, validity;
    Py_buffer *data;
    Py_ssize_t ndata, offset;
    int has_views, has_validity;
} strcol;

static void strcol_release(strcol *c) {
    if (c->has_views) PyBuffer_Release(&c->views);
    if (c->has_validity) PyBuffer_Release(&c->validity);
    for (Py_ssize_t d = 0; d < c->ndata; d++) PyBuffer_Release(&c->data[d]);
    PyMem_Free(c->data);
    memset(c, 0, sizeof *c);
}

/* The data buffers a string-view column's views point into (a tuple of buffer objects); on
   failure the ones already taken stay in *out / *ndata for the caller's release. */
static int get_data_buffers(PyObject *datas, Py_buffer **out, Py_ssize_t *ndata) {
    Py_ssize_t nd = PyTuple_GET_SIZE(datas);
    *out = PyMem_Calloc((size_t)(nd ? nd : 1), sizeof(Py_buffer));
    if (!*out) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t d = 0; d < nd; d++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(datas, d), &(*out)[d], PyBUF_SIMPLE) < 0) return -1;
        *ndata = d + 1;
    }
    return 0;
}

static int strcol_get(PyObject *src, strcol *c, Py_ssize_t n) {
    const char *tag;
    PyObject *views, *datas, *validity;
    if (!PyArg_ParseTuple(src, "sOO!On", &tag, &views, &PyTuple_Type, &datas, &validity, &c->offset)) return -1;
    if (strcmp(tag, "views") != 0 || c->offset < 0) {
        PyErr_SetString(PyExc_ValueError, "a string-view column is a (\"views\", ...) tuple");
        return -1;
    }
    if (PyObject_GetBuffer(views, &c->views, PyBUF_C_CONTIGUOUS) < 0) return -1;
    c->has_views = 1;
    if (c->views.len < 16 * (c->offset + n)) { PyErr_SetString(PyExc_ValueError, "a string-view column has short views"); return -1; }
    if (validity != Py_None) {
        if (PyObject_GetBuffer(validity, &c->validity, PyBUF_SIMPLE) < 0) return -1;
        c->has_validity = 1;
        if (c->validity.len * 8 < c->offset + n) { PyErr_SetString(PyExc_ValueError, "a string-view column has a short validity"); return -1; }
    }
    if (get_data_buffers(datas, &c->data, &c->ndata) < 0) return -1;
    return 0;
}

/* Row r's value (and its length), or NULL for a null; *broken set when a view points outside its buffer. */
static const unsigned char *strcol_value(const strcol *c, Py_ssize_t r, int32_t *len, int *broken) {
    Py_ssize_t i = c->offset + r;
    if (c->has_validity && !((((const unsigned char *)c->validity.buf)[i >> 3] >> (i & 7)) & 1)) return NULL;
    const unsigned char *v = (const unsigned char *)c->views.buf + 16 * i;
    int32_t idx, off;
    memcpy(len, v, 4);
    if (*len <= 12) return v + 4;
    memcpy(&idx, v + 8, 4);
    memcpy(&off, v + 12, 4);
    if (idx < 0 || idx >= c->ndata || off < 0 || (Py_ssize_t)off + *len > c->data[idx].len) { *broken = 1; return NULL; }
    return (const unsigned char *)c->data[idx].buf + off;
}

typedef struct {
    int kind;
    Py_buffer buf;   /* K_FIXED, K_NUMERIC, K_INT2HEX: the rows (or the string views); K_CONST: the payload */
    Py_buffer mask;  /* K_FIXED only, when given */
    int has_buf, has_mask;
    Py_ssize_t row_width, start, width;
    const char *prefix;
    Py_ssize_t prefix_len;
    /* or a string-view source, each value `value_len` bytes long */
    int views;
    strcol sc;
    Py_ssize_t value_len;
} column;

/* The `value_len` bytes of row r of a column (from `start` on), or NULL when its view is null,
   of another length or points outside its buffer. */
static const unsigned char *row_of(const column *c, Py_ssize_t r) {
    if (!c->views) return (const unsigned char *)c->buf.buf + r * c->row_width + c->start;
    int32_t len;
    int broken = 0;
    const unsigned char *v = strcol_value(&c->sc, r, &len, &broken);
    return v && len == c->value_len ? v + c->start : NULL;
}

static signed char HEX[256];

static void init_hex(void) {
    memset(HEX, -1, sizeof HEX);
    for (int c = '0'; c <= '9'; c++) HEX[c] = (signed char)(c - '0');
    for (int c = 'a'; c <= 'f'; c++) HEX[c] = (signed char)(c - 'a' + 10);
}

static inline void put16(char **p, uint16_t v) {
    (*p)[0] = (char)(v >> 8); (*p)[1] = (char)v; *p += 2;
}

static inline void put32(char **p, int32_t v) {
    uint32_t u = (uint32_t)v;
    (*p)[0] = (char)(u >> 24); (*p)[1] = (char)(u >> 16); (*p)[2] = (char)(u >> 8); (*p)[3] = (char)u; *p += 4;
}

/* 64 hex characters -> 8 uint32 limbs, most significant first; -1 on a non-hex character. */
static int parse_word(const unsigned char *s, uint32_t limbs[8]) {
    for (int l = 0; l < 8; l++) {
        uint64_t eight;
        memcpy(&eight, s + 8 * l, 8);
        if (eight == 0x3030303030303030ull) { limbs[l] = 0; continue; }  /* "00000000": most of an amount's word */
        uint32_t v = 0;
        for (int k = 0; k < 8; k++) {
            signed char h = HEX[s[8 * l + k]];
            if (h < 0) return -1;
            v = (v << 4) | (uint32_t)h;
        }
        limbs[l] = v;
    }
    return 0;
}

/* Write a numeric field (length + payload) for the 256-bit value in limbs. */
static void put_numeric(char **p, uint32_t limbs[8]) {
    uint16_t digits[20];  /* base-10000, least significant first; 10^80 > 2^256 */
    int nd = 0;
    if ((limbs[0] | limbs[1] | limbs[2] | limbs[3] | limbs[4] | limbs[5]) == 0) {
        uint64_t v = ((uint64_t)limbs[6] << 32) | limbs[7];
        while (v) { digits[nd++] = (uint16_t)(v % 10000); v /= 10000; }
    } else {
        /* Long division by 10^8 (two digits per pass; rem * 2^32 + limb stays below 2^64). */
        int top = 0;  /* first nonzero limb */
        while (top < 8 && limbs[top] == 0) top++;
        while (top < 8) {
            uint64_t rem = 0;
            for (int l = top; l < 8; l++) {
                uint64_t cur = (rem << 32) | limbs[l];
                limbs[l] = (uint32_t)(cur / 100000000u);
                rem = cur % 100000000u;
            }
            digits[nd++] = (uint16_t)(rem % 10000);
            digits[nd++] = (uint16_t)(rem / 10000);
            while (top < 8 && limbs[top] == 0) top++;
        }
        while (nd > 0 && digits[nd - 1] == 0) nd--;  /* the last pass's high digit may be 0 */
    }
    if (nd == 0) digits[nd++] = 0;  /* zero: one zero digit (the server stores the canonical 0) */
    put32(p, 8 + 2 * nd);
    put16(p, (uint16_t)nd);          /* ndigits */
    put16(p, (uint16_t)(nd - 1));    /* weight */
    put16(p, 0);                     /* sign: positive */
    put16(p, 0);                     /* dscale */
    for (int d = nd - 1; d >= 0; d--) put16(p, digits[d]);
}

static int get_rows(PyObject *obj, Py_buffer *view, Py_ssize_t n, Py_ssize_t row_width, Py_ssize_t start,
                    Py_ssize_t width) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (row_width < 0 || start < 0 || width < 0 || start + width > row_width || view->len < n * row_width) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "encode_rows: a column's buffer is smaller than its rows");
        return -1;
    }
    return 0;
}

static void release(column *cols, Py_ssize_t ncols) {
    for (Py_ssize_t i = 0; i < ncols; i++) {
        if (cols[i].has_buf) PyBuffer_Release(&cols[i].buf);
        if (cols[i].has_mask) PyBuffer_Release(&cols[i].mask);
        strcol_release(&cols[i].sc);
    }
    PyMem_Free(cols);
}

/* A (string-view column, value_len) source: n values, each value_len bytes long. */
static int get_views(PyObject *src, column *c, Py_ssize_t n) {
    PyObject *sc;
    if (!PyArg_ParseTuple(src, "On", &sc, &c->value_len)) return -1;
    if (c->start + c->width > c->value_len) {
        PyErr_SetString(PyExc_ValueError, "encode_rows: a field beyond its string-view values");
        return -1;
    }
    if (strcol_get(sc, &c->sc, n) < 0) return -1;
    c->views = 1;
    return 0;
}

/* A column's rows: a C-contiguous (n, row_width) buffer, or a ("views", ...) tuple. */
static int get_source(PyObject *src, column *c, Py_ssize_t n) {
    if (PyTuple_Check(src)) return get_views(src, c, n);
    if (get_rows(src, &c->buf, n, c->row_width, c->start, c->width) < 0) return -1;
    c->has_buf = 1;
    return 0;
}

static PyObject *encode_rows(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *spec;
    if (!PyArg_ParseTuple(args, "nO!", &n, &PyList_Type, &spec)) return NULL;
    Py_ssize_t ncols = PyList_GET_SIZE(spec);
    if (n < 0 || ncols > 0x7fff) { PyErr_SetString(PyExc_ValueError, "encode_rows: bad shape"); return NULL; }
    column *cols = PyMem_Calloc((size_t)(ncols ? ncols : 1), sizeof(column));
    if (!cols) return PyErr_NoMemory();
    Py_ssize_t row_max = 2;  /* the field count */
    for (Py_ssize_t i = 0; i < ncols; i++) {
        PyObject *t = PyList_GET_ITEM(spec, i);
        const char *kind;
        PyObject *buf = NULL, *prefix = NULL, *mask = NULL;
        column *c = &cols[i];
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 1 || !(kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(t, 0)))) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "encode_rows: a column is a (kind, ...) tuple");
            goto fail;
        }
        if (strcmp(kind, "fixed") == 0) {
            c->kind = K_FIXED;
            if (!PyArg_ParseTuple(t, "sOnnnSO", &kind, &buf, &c->row_width, &c->start, &c->width, &prefix, &mask)) goto fail;
            if (get_source(buf, c, n) < 0) goto fail;
            c->prefix = PyBytes_AS_STRING(prefix);
            c->prefix_len = PyBytes_GET_SIZE(prefix);
            if (mask != Py_None) {
                if (PyObject_GetBuffer(mask, &c->mask, PyBUF_C_CONTIGUOUS) < 0) goto fail;
                c->has_mask = 1;
                if (c->mask.len < n) { PyErr_SetString(PyExc_ValueError, "encode_rows: short mask"); goto fail; }
            }
            row_max += 4 + c->prefix_len + c->width;
        } else if (strcmp(kind, "numeric") == 0 || strcmp(kind, "int2hex") == 0) {
            int numeric = kind[0] == 'n';
            c->kind = numeric ? K_NUMERIC : K_INT2HEX;
            if (!PyArg_ParseTuple(t, "sOnn", &kind, &buf, &c->row_width, &c->start)) goto fail;
            c->width = numeric ? 64 : 2;
            if (get_source(buf, c, n) < 0) goto fail;
            row_max += numeric ? 4 + 8 + 40 : 4 + 2;
        } else if (strcmp(kind, "const") == 0) {
            c->kind = K_CONST;
            if (!PyArg_ParseTuple(t, "sy*", &kind, &c->buf)) goto fail;
            c->has_buf = 1;
            row_max += 4 + c->buf.len;
        } else if (strcmp(kind, "null") == 0) {
            c->kind = K_NULL;
            row_max += 4;
        } else {
            PyErr_Format(PyExc_ValueError, "encode_rows: unknown column kind %s", kind);
            goto fail;
        }
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * row_max);
    if (!out) goto fail;
    char *p = PyBytes_AS_STRING(out);
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n && !bad; r++) {
        put16(&p, (uint16_t)ncols);
        for (Py_ssize_t i = 0; i < ncols; i++) {
            column *c = &cols[i];
            const unsigned char *row = NULL;
            if (c->kind == K_FIXED || c->kind == K_NUMERIC || c->kind == K_INT2HEX) {
                if (c->has_mask && ((const unsigned char *)c->mask.buf)[r]) { put32(&p, -1); continue; }
                if (!(row = row_of(c, r))) { bad = 1; break; }
            }
            switch (c->kind) {
            case K_FIXED:
                put32(&p, (int32_t)(c->prefix_len + c->width));
                memcpy(p, c->prefix, (size_t)c->prefix_len); p += c->prefix_len;
                memcpy(p, row, (size_t)c->width); p += c->width;
                break;
            case K_NUMERIC: {
                uint32_t limbs[8];
                if (parse_word(row, limbs) < 0) { bad = 1; break; }
                put_numeric(&p, limbs);
                break;
            }
            case K_INT2HEX: {
                signed char hi = HEX[row[0]], lo = HEX[row[1]];
                if (hi < 0 || lo < 0) { bad = 1; break; }
                put32(&p, 2);
                put16(&p, (uint16_t)((hi << 4) | lo));
                break;
            }
            case K_CONST:
                put32(&p, (int32_t)c->buf.len);
                memcpy(p, c->buf.buf, (size_t)c->buf.len); p += c->buf.len;
                break;
            default:
                put32(&p, -1);
            }
        }
    }
    Py_END_ALLOW_THREADS
    release(cols, ncols);
    if (bad) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_ValueError, "encode_rows: a value of another length, or a word that is not lowercase hex");
        return NULL;
    }
    if (_PyBytes_Resize(&out, p - PyBytes_AS_STRING(out)) < 0) return NULL;
    return out;
fail:
    release(cols, ncols);
    return NULL;
}

/* ---- classify: the per-log checks that decide quarantine, in one pass ----------------------
 * classify(n, address, topic0, topics, data, keys) -> (event, topics_bad, data_bad), three
 * bytes objects of n entries:
 *   event[r]: index into keys of the (address, topic0) pair the log has, 255 when none (or null)
 *   topics_bad[r]: 1 when topic1..3 holds a value that is not "0x" + 64 lowercase hex
 *   data_bad[r]: 1 when data is null, not "0x"-prefixed, of odd length or not lowercase hex
 * Each column is a string-view column (above); `topics` is a list of three such columns; keys
 * a list of (address, topic0) bytes pairs (at most 255). */
static int all_hex(const unsigned char *s, Py_ssize_t len) {
    unsigned char acc = 0;
    for (Py_ssize_t k = 0; k < len; k++) acc |= (unsigned char)HEX[s[k]];  /* -1 sets the high bit */
    return !(acc & 0x80);
}

static PyObject *classify(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *address_src, *topic0_src, *topics, *data_src, *keys;
    if (!PyArg_ParseTuple(args, "nOOO!OO!", &n, &address_src, &topic0_src, &PyList_Type, &topics, &data_src,
                          &PyList_Type, &keys)) return NULL;
    Py_ssize_t nkeys = PyList_GET_SIZE(keys);
    if (n < 0 || PyList_GET_SIZE(topics) != 3 || nkeys > 255) {
        PyErr_SetString(PyExc_ValueError, "classify: bad shape");
        return NULL;
    }
    strcol cols[6];
    memset(cols, 0, sizeof cols);
    PyObject *out_event = NULL, *out_topics = NULL, *out_data = NULL;
    const char **key_addr = PyMem_Calloc((size_t)(nkeys ? nkeys : 1), sizeof(char *));
    const char **key_topic = PyMem_Calloc((size_t)(nkeys ? nkeys : 1), sizeof(char *));
    Py_ssize_t *key_addr_len = PyMem_Calloc((size_t)(nkeys ? nkeys : 1), sizeof(Py_ssize_t));
    Py_ssize_t *key_topic_len = PyMem_Calloc((size_t)(nkeys ? nkeys : 1), sizeof(Py_ssize_t));
    if (!key_addr || !key_topic || !key_addr_len || !key_topic_len) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t k = 0; k < nkeys; k++) {
        PyObject *pair = PyList_GET_ITEM(keys, k), *a, *t;
        if (!PyArg_ParseTuple(pair, "SS", &a, &t)) goto done;
        key_addr[k] = PyBytes_AS_STRING(a); key_addr_len[k] = PyBytes_GET_SIZE(a);
        key_topic[k] = PyBytes_AS_STRING(t); key_topic_len[k] = PyBytes_GET_SIZE(t);
    }
    PyObject *srcs[6] = {address_src, topic0_src, PyList_GET_ITEM(topics, 0), PyList_GET_ITEM(topics, 1),
                         PyList_GET_ITEM(topics, 2), data_src};
    for (int i = 0; i < 6; i++)
        if (strcol_get(srcs[i], &cols[i], n) < 0) goto done;
    out_event = PyBytes_FromStringAndSize(NULL, n);
    out_topics = PyBytes_FromStringAndSize(NULL, n);
    out_data = PyBytes_FromStringAndSize(NULL, n);
    if (!out_event || !out_topics || !out_data) goto done;
    unsigned char *ev = (unsigned char *)PyBytes_AS_STRING(out_event);
    unsigned char *tb = (unsigned char *)PyBytes_AS_STRING(out_topics);
    unsigned char *db = (unsigned char *)PyBytes_AS_STRING(out_data);
    int broken = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n && !broken; r++) {
        int32_t alen = 0, tlen = 0, len = 0;
        const unsigned char *a = strcol_value(&cols[0], r, &alen, &broken);
        const unsigned char *t = strcol_value(&cols[1], r, &tlen, &broken);
        ev[r] = 255;
        if (a && t)
            for (Py_ssize_t k = 0; k < nkeys; k++)
                if (key_addr_len[k] == alen && key_topic_len[k] == tlen && memcmp(key_topic[k], t, (size_t)tlen) == 0
                    && memcmp(key_addr[k], a, (size_t)alen) == 0) { ev[r] = (unsigned char)k; break; }
        tb[r] = 0;
        for (int i = 2; i < 5; i++) {
            const unsigned char *v = strcol_value(&cols[i], r, &len, &broken);
            if (v && !(len == 66 && v[0] == '0' && v[1] == 'x' && all_hex(v + 2, 64))) tb[r] = 1;
        }
        const unsigned char *d = strcol_value(&cols[5], r, &len, &broken);
        db[r] = !(d && len >= 2 && (len & 1) == 0 && d[0] == '0' && d[1] == 'x' && all_hex(d + 2, len - 2));
    }
    Py_END_ALLOW_THREADS
    if (broken) {
        PyErr_SetString(PyExc_ValueError, "classify: a string view points outside its buffer");
        goto done;
    }
    PyObject *result = PyTuple_Pack(3, out_event, out_topics, out_data);
    Py_CLEAR(out_event); Py_CLEAR(out_topics); Py_CLEAR(out_data);
    for (int i = 0; i < 6; i++) strcol_release(&cols[i]);
    PyMem_Free(key_addr); PyMem_Free(key_topic); PyMem_Free(key_addr_len); PyMem_Free(key_topic_len);
    return result;
done:
    Py_XDECREF(out_event); Py_XDECREF(out_topics); Py_XDECREF(out_data);
    for (int i = 0; i < 6; i++) strcol_release(&cols[i]);
    PyMem_Free(key_addr); PyMem_Free(key_topic); PyMem_Free(key_addr_len); PyMem_Free(key_topic_len);
    return NULL;
}

/* ---- scan_logs: an eth_getLogs `result` array read in place ---------------------------------
 * scan_logs(body, start, end) -> None, or (n, fields, topics):
 *   body[start] is the array's `[` and body[end] its `]` (decode.py finds them and checks the
 *   JSON-RPC envelope around them). Each element must be an object whose values are strings
 *   without escapes or non-ASCII bytes, null, true/false or numbers (skipped unless the key is
 *   one we read), and `topics` an array of such strings or null. Anything else (escapes,
 *   nested objects, a duplicate key, a read key of another type, bad syntax) returns None: the
 *   caller then reads the body with polars, which takes any JSON (or reports it invalid).
 *   fields: for address, data, blockNumber, blockHash, blockTimestamp, transactionHash,
 *   logIndex, a pair (views, valid): n Arrow string_view views (16 bytes each) into `body`
 *   (buffer 0), and n validity bytes (0 = null: absent or null in the JSON).
 *   topics: (list offsets int32 x (n + 1), validity bytes x n, views, count of topics).
 */
#define NFIELDS 7
static const char *FIELD_NAMES[NFIELDS] = {"address", "data", "blockNumber", "blockHash", "blockTimestamp",
                                           "transactionHash", "logIndex"};

typedef struct { char *p; Py_ssize_t len, cap; } growbuf;

static int grow(growbuf *g, Py_ssize_t add) {
    if (g->len + add <= g->cap) return 0;
    Py_ssize_t cap = g->cap ? g->cap : 4096;
    while (cap < g->len + add) cap *= 2;
    char *q = PyMem_Realloc(g->p, (size_t)cap);
    if (!q) { PyErr_NoMemory(); return -1; }
    g->p = q; g->cap = cap;
    return 0;
}

/* Append the view of body[off, off + len) (buffer 0). */
static int put_view(growbuf *g, const unsigned char *body, Py_ssize_t off, Py_ssize_t len) {
    if (grow(g, 16) < 0) return -1;
    unsigned char *v = (unsigned char *)g->p + g->len;
    int32_t l = (int32_t)len, zero = 0, o = (int32_t)off;
    memset(v, 0, 16);
    memcpy(v, &l, 4);
    if (len <= 12) memcpy(v + 4, body + off, (size_t)len);
    else { memcpy(v + 4, body + off, 4); memcpy(v + 8, &zero, 4); memcpy(v + 12, &o, 4); }
    g->len += 16;
    return 0;
}

static int put_byte(growbuf *g, unsigned char b) {
    if (grow(g, 1) < 0) return -1;
    g->p[g->len++] = (char)b;
    return 0;
}

static inline Py_ssize_t skip_ws(const unsigned char *b, Py_ssize_t i, Py_ssize_t end) {
    while (i < end && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) i++;
    return i;
}

/* A string starting at b[i] == '"': its content is [i + 1, *close); -1 when it holds an escape,
   a control character or a non-ASCII byte, or is not closed before end. */
static Py_ssize_t scan_string(const unsigned char *b, Py_ssize_t i, Py_ssize_t end) {
    const unsigned char *q = memchr(b + i + 1, '"', (size_t)(end - i - 1));
    if (!q) return -1;
    /* no early exit: the compiler vectorises this check of the whole value */
    unsigned char bad = 0;
    for (const unsigned char *c = b + i + 1; c < q; c++) bad |= (unsigned char)((*c == '\\') | (*c < 0x20) | (*c >= 0x80));
    return bad ? -1 : q - b;
}

static PyObject *scan_logs(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn", &buf, &start, &end)) return NULL;
    const unsigned char *b = buf.buf;
    growbuf views[NFIELDS], valid[NFIELDS], t_off, t_valid, t_views;
    memset(views, 0, sizeof views); memset(valid, 0, sizeof valid);
    memset(&t_off, 0, sizeof t_off); memset(&t_valid, 0, sizeof t_valid); memset(&t_views, 0, sizeof t_views);
    PyObject *result = NULL;
    int ok = 0, oom = 0;
    Py_ssize_t n = 0, ntopics = 0;
    if (start < 0 || end >= buf.len || start >= end || b[start] != '[' || b[end] != ']' || end > 0x7fffffff) goto out;
    {
        int32_t zero = 0;
        if (grow(&t_off, 4) < 0) { oom = 1; goto out; }
        memcpy(t_off.p, &zero, 4); t_off.len = 4;
    }
    Py_ssize_t i = skip_ws(b, start + 1, end);
    if (i == end) { ok = 1; goto out; }  /* [] */
    for (;;) {
        if (i >= end || b[i] != '{') goto out;
        Py_ssize_t fv_off[NFIELDS], fv_len[NFIELDS];
        int have[NFIELDS], seen_topics = 0, topics_null = 1;
        Py_ssize_t topics_before = ntopics;
        for (int f = 0; f < NFIELDS; f++) have[f] = 0;
        i = skip_ws(b, i + 1, end);
        if (i < end && b[i] == '}') { i++; }
        else for (;;) {
            if (i >= end || b[i] != '"') goto out;
            Py_ssize_t kclose = scan_string(b, i, end);
            if (kclose < 0) goto out;
            const char *key = (const char *)b + i + 1;
            Py_ssize_t klen = kclose - i - 1;
            int field = -1, is_topics = klen == 6 && memcmp(key, "topics", 6) == 0;
            for (int f = 0; f < NFIELDS && !is_topics; f++)
                if ((Py_ssize_t)strlen(FIELD_NAMES[f]) == klen && memcmp(key, FIELD_NAMES[f], (size_t)klen) == 0) { field = f; break; }
            i = skip_ws(b, kclose + 1, end);
            if (i >= end || b[i] != ':') goto out;
            i = skip_ws(b, i + 1, end);
            if (i >= end) goto out;
            if ((field >= 0 && have[field]) || (is_topics && seen_topics)) goto out;  /* a duplicate key */
            unsigned char c = b[i];
            if (c == '"') {
                Py_ssize_t close = scan_string(b, i, end);
                if (close < 0 || is_topics) goto out;
                if (field >= 0) { have[field] = 1; fv_off[field] = i + 1; fv_len[field] = close - i - 1; }
                i = close + 1;
            } else if (c == 'n') {
                if (end - i < 4 || memcmp(b + i, "null", 4) != 0) goto out;
                if (field >= 0) { have[field] = 2; }  /* present, null */
                if (is_topics) seen_topics = 1;
                i += 4;
            } else if (c == 't' || c == 'f') {
                Py_ssize_t w = c == 't' ? 4 : 5;
                if (field >= 0 || is_topics || end - i < w || memcmp(b + i, c == 't' ? "true" : "false", (size_t)w) != 0) goto out;
                i += w;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                if (field >= 0 || is_topics) goto out;
                while (i < end && (b[i] == '-' || b[i] == '+' || b[i] == '.' || b[i] == 'e' || b[i] == 'E'
                                   || (b[i] >= '0' && b[i] <= '9'))) i++;
            } else if (c == '[' && is_topics) {
                seen_topics = 1; topics_null = 0;
                i = skip_ws(b, i + 1, end);
                if (i < end && b[i] == ']') i++;
                else for (;;) {
                    if (i >= end || b[i] != '"') goto out;
                    Py_ssize_t close = scan_string(b, i, end);
                    if (close < 0) goto out;
                    if (put_view(&t_views, b, i + 1, close - i - 1) < 0) { oom = 1; goto out; }
                    ntopics++;
                    i = skip_ws(b, close + 1, end);
                    if (i < end && b[i] == ',') { i = skip_ws(b, i + 1, end); continue; }
                    if (i < end && b[i] == ']') { i++; break; }
                    goto out;
                }
            } else {
                goto out;  /* a nested object, an array under another key, or garbage */
            }
            i = skip_ws(b, i, end);
            if (i < end && b[i] == ',') { i = skip_ws(b, i + 1, end); continue; }
            if (i < end && b[i] == '}') { i++; break; }
            goto out;
        }
        /* the object is complete: append its row */
        for (int f = 0; f < NFIELDS; f++) {
            int v = have[f] == 1;
            if (v ? put_view(&views[f], b, fv_off[f], fv_len[f]) < 0 : put_view(&views[f], b, 0, 0) < 0) { oom = 1; goto out; }
            if (put_byte(&valid[f], (unsigned char)v) < 0) { oom = 1; goto out; }
        }
        if (topics_null && ntopics != topics_before) goto out;
        {
            int32_t o = (int32_t)ntopics;
            if (grow(&t_off, 4) < 0) { oom = 1; goto out; }
            memcpy(t_off.p + t_off.len, &o, 4); t_off.len += 4;
        }
        if (put_byte(&t_valid, (unsigned char)!topics_null) < 0) { oom = 1; goto out; }
        n++;
        i = skip_ws(b, i, end);
        if (i < end && b[i] == ',') { i = skip_ws(b, i + 1, end); continue; }
        if (i == end) { ok = 1; break; }
        goto out;
    }
out:
    PyBuffer_Release(&buf);
    if (oom) { result = NULL; }
    else if (!ok) { Py_INCREF(Py_None); result = Py_None; }
    else {
        PyObject *fields = PyList_New(NFIELDS);
        if (fields) {
            for (int f = 0; f < NFIELDS; f++) {
                PyObject *pair = Py_BuildValue("(y#y#)", views[f].p ? views[f].p : "", views[f].len,
                                               valid[f].p ? valid[f].p : "", valid[f].len);
                if (!pair) { Py_CLEAR(fields); break; }
                PyList_SET_ITEM(fields, f, pair);
            }
        }
        if (fields)
            result = Py_BuildValue("(nN(y#y#y#n))", n, fields, t_off.p, t_off.len, t_valid.p ? t_valid.p : "", t_valid.len,
                                   t_views.p ? t_views.p : "", t_views.len, ntopics);
    }
    for (int f = 0; f < NFIELDS; f++) { PyMem_Free(views[f].p); PyMem_Free(valid[f].p); }
    PyMem_Free(t_off.p); PyMem_Free(t_valid.p); PyMem_Free(t_views.p);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_logs", scan_logs, METH_VARARGS, "An eth_getLogs result array as string views into the body (see the module source)."},
    {"encode_rows", encode_rows, METH_VARARGS, "Binary COPY rows of fixed-layout logs (see the module source)."},
    {"classify", classify, METH_VARARGS, "Event index and hex checks of each log (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_copyrows", NULL, -1, methods};

PyMODINIT_FUNC PyInit__copyrows(void) {
    init_hex();
    return PyModule_Create(&module);
}
