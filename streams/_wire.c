/* streams._wire: exposures and clicks in the exact bytes `mtl replay` writes, read without an object each.
 *
 * See streams/wire.py for what "plain" means and why. scan() checks every value of a batch against the
 * layout byte for byte and takes the fields from their places; a value that differs in any way is left
 * to the caller (streams.events.parse_event), so what is accepted here is exactly what parse_event
 * accepts in that layout, with the same values.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_ID_BYTES 64 /* rows of the event-id hash table (streams.event_ids.MAX_TABLE_BYTES) */
#define MAX_DIGITS 18   /* an id of at most 18 digits is below 2**63 */
#define MAX_TS_CHARS 24

static const char EXPOSURE[] = "{\"type\":\"exposure\",\"event_id\":\"";
static const char CLICK[] = "{\"type\":\"click\",\"event_id\":\"";
static const char USER[] = "\",\"user_id\":";
static const char VIDEO[] = ",\"video_id\":";
static const char TS[] = ",\"ts\":";
#define LEN(text) ((Py_ssize_t)sizeof(text) - 1)

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
    int click;
    int64_t user, video, hash;
    double ts;
} Event;

static int starts_with(const unsigned char *p, const unsigned char *end, const char *text, Py_ssize_t n) {
    return end - p >= n && memcmp(p, text, (size_t)n) == 0;
}

/* A JSON integer without sign at *p: digits, no leading zero, at most MAX_DIGITS; moves *p past it. */
static int read_id(const unsigned char **p, const unsigned char *end, int64_t *out) {
    const unsigned char *s = *p;
    int64_t value = 0;
    int n = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (++n > MAX_DIGITS) return 0;
        value = value * 10 + (*s - '0');
        s++;
    }
    if (n == 0 || (n > 1 && **p == '0')) return 0;
    *p = s;
    *out = value;
    return 1;
}

/* The JSON number digits[.digits] that is all of [s, end), correctly rounded to a double. */
static int read_number(const unsigned char *s, const unsigned char *end, double *out) {
    Py_ssize_t len = end - s;
    if (len < 1 || len > MAX_TS_CHARS) return 0;
    int64_t m = 0;
    int digits = 0, before = 0, after = 0, dots = 0;
    for (const unsigned char *c = s; c < end; c++) {
        if (*c >= '0' && *c <= '9') {
            if (digits < MAX_DIGITS) m = m * 10 + (*c - '0');
            digits++;
            if (dots) after++; else before++;
        } else if (*c == '.') {
            if (dots++) return 0;
        } else {
            return 0;
        }
    }
    if (before < 1 || (dots && after < 1) || (s[0] == '0' && before > 1)) return 0;
    if (digits <= MAX_DIGITS && m <= ((int64_t)1 << 53) && after <= 22) {
        /* m and 10**after are exact doubles: one rounding, the correct one */
        *out = (double)m / POW10[after];
        return 1;
    }
    char text[MAX_TS_CHARS + 1];
    memcpy(text, s, (size_t)len);
    text[len] = '\0';
    double value = PyOS_string_to_double(text, NULL, NULL); /* correctly rounded (dtoa) */
    if (value == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    *out = value;
    return 1;
}

static int parse_plain(const unsigned char *s, Py_ssize_t n, const int64_t *table, Event *e) {
    const unsigned char *end = s + n, *p;
    if (starts_with(s, end, CLICK, LEN(CLICK))) {
        e->click = 1;
        p = s + LEN(CLICK);
    } else if (starts_with(s, end, EXPOSURE, LEN(EXPOSURE))) {
        e->click = 0;
        p = s + LEN(EXPOSURE);
    } else {
        return 0;
    }
    /* the id: printable ASCII without a backslash, so the first quote closes it and its bytes are
       its UTF-8; hashed on the way (streams.event_ids) */
    int64_t hash = 0;
    int j = 0;
    for (; p < end && *p != '"'; p++, j++) {
        if (*p < 0x20 || *p > 0x7E || *p == '\\' || j >= MAX_ID_BYTES) return 0;
        hash ^= table[j * 256 + *p];
    }
    if (j == 0 || !starts_with(p, end, USER, LEN(USER))) return 0;
    e->hash = hash;
    p += LEN(USER);
    if (!read_id(&p, end, &e->user) || !starts_with(p, end, VIDEO, LEN(VIDEO))) return 0;
    p += LEN(VIDEO);
    if (!read_id(&p, end, &e->video) || !starts_with(p, end, TS, LEN(TS))) return 0;
    p += LEN(TS);
    if (end - p < 2 || end[-1] != '}') return 0;
    return read_number(p, end - 1, &e->ts);
}

static PyObject *new_array(Py_ssize_t n, Py_ssize_t item, char **data) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * item);
    if (out != NULL) *data = PyBytes_AS_STRING(out);
    return out;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *values;
    Py_buffer table;
    if (!PyArg_ParseTuple(args, "Oy*", &values, &table)) return NULL;
    if (table.len != MAX_ID_BYTES * 256 * (Py_ssize_t)sizeof(int64_t)) {
        PyBuffer_Release(&table);
        PyErr_SetString(PyExc_ValueError, "the hash table must hold 64 x 256 int64");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(values, "values must be a sequence");
    if (seq == NULL) {
        PyBuffer_Release(&table);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), k = 0;
    char *plain, *click, *size, *user, *video, *ts, *hash;
    PyObject *arrays[7] = {
        new_array(n, 1, &plain), new_array(n, 1, &click),  new_array(n, 8, &size),
        new_array(n, 8, &user),  new_array(n, 8, &video), new_array(n, 8, &ts),
        new_array(n, 8, &hash),
    };
    PyObject *result = NULL;
    for (int a = 0; a < 7; a++)
        if (arrays[a] == NULL) goto done;
    const int64_t *words = (const int64_t *)table.buf;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        Event e;
        PyObject *item = items[i];
        plain[i] = PyBytes_CheckExact(item) &&
                   parse_plain((const unsigned char *)PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item),
                               words, &e);
        if (!plain[i]) continue;
        int64_t bytes = PyBytes_GET_SIZE(item);
        click[k] = (char)e.click;
        memcpy(size + 8 * k, &bytes, 8);
        memcpy(user + 8 * k, &e.user, 8);
        memcpy(video + 8 * k, &e.video, 8);
        memcpy(ts + 8 * k, &e.ts, 8);
        memcpy(hash + 8 * k, &e.hash, 8);
        k++;
    }
    result = Py_BuildValue("(OOOOOOOn)", arrays[0], arrays[1], arrays[2], arrays[3], arrays[4],
                           arrays[5], arrays[6], k);
done:
    for (int a = 0; a < 7; a++) Py_XDECREF(arrays[a]);
    Py_DECREF(seq);
    PyBuffer_Release(&table);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(values, table) -> (plain, click, size, user, video, ts, hash, k): byte buffers; the first k "
     "items of all but plain belong to the plain values, in order"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "streams._wire",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__wire(void) { return PyModule_Create(&module); }
