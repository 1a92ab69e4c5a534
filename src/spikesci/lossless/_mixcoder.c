/* CPython binding of the "mix" model (see _mixkernel.h): encode(bits, frames, h, w) -> bytes and
 * decode(data, frames, h, w, out). Both release the GIL, so threads code chunks on all cores. The
 * buffers are plain bytes-like objects (no numpy headers needed to build). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_mixkernel.h"

static int check_shape(Py_ssize_t have, int frames, int h, int w) {
    if (frames < 0 || h < 1 || w < 1 || (size_t)h * (size_t)w > (1u << 30)) {
        PyErr_SetString(PyExc_ValueError, "bad frame shape");
        return -1;
    }
    if ((size_t)have < (size_t)frames * (size_t)h * (size_t)w) {
        PyErr_SetString(PyExc_ValueError, "buffer smaller than frames x height x width");
        return -1;
    }
    return 0;
}

static PyObject *py_encode(PyObject *self, PyObject *args) {
    Py_buffer bits;
    int frames, h, w;
    if (!PyArg_ParseTuple(args, "y*iii", &bits, &frames, &h, &w)) return NULL;
    if (check_shape(bits.len, frames, h, w)) {
        PyBuffer_Release(&bits);
        return NULL;
    }
    size_t len = 0;
    uint8_t *out;
    Py_BEGIN_ALLOW_THREADS
    out = mix_encode((const uint8_t *)bits.buf, frames, h, w, &len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bits);
    if (!out) return PyErr_NoMemory();
    PyObject *res = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)len);
    free(out);
    return res;
}

static PyObject *py_decode(PyObject *self, PyObject *args) {
    Py_buffer data, out;
    int frames, h, w;
    if (!PyArg_ParseTuple(args, "y*iiiw*", &data, &frames, &h, &w, &out)) return NULL;
    int rc = check_shape(out.len, frames, h, w);
    if (!rc) {
        Py_BEGIN_ALLOW_THREADS
        rc = mix_decode((const uint8_t *)data.buf, (size_t)data.len, frames, h, w, (uint8_t *)out.buf);
        Py_END_ALLOW_THREADS
        if (rc) PyErr_NoMemory();
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    if (rc) return NULL;
    Py_RETURN_NONE;
}

/* to_dat(out, band, frames, height, width, row0, rows): OR the bits of a band (frames x rows x width
 * bytes of 0/1, rows row0.. of the frame) into `out`, frames in the `.dat` layout: rows bottom-up,
 * 8 pixels a byte, least-significant bit first, ceil(height x width / 8) bytes a frame. */
static PyObject *py_to_dat(PyObject *self, PyObject *args) {
    Py_buffer out, band;
    int frames, h, w, r0, rows;
    if (!PyArg_ParseTuple(args, "w*y*iiiii", &out, &band, &frames, &h, &w, &r0, &rows)) return NULL;
    size_t fb = ((size_t)h * w + 7) / 8;
    int ok = frames >= 0 && h > 0 && w > 0 && r0 >= 0 && rows >= 0 && r0 + rows <= h &&
             (size_t)band.len >= (size_t)frames * rows * w && (size_t)out.len >= (size_t)frames * fb;
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        const uint8_t *src = (const uint8_t *)band.buf;
        for (int t = 0; t < frames; t++) {
            uint8_t *o = (uint8_t *)out.buf + (size_t)t * fb;
            for (int yy = 0; yy < rows; yy++, src += w) {
                size_t k = (size_t)(h - 1 - (r0 + yy)) * w;
                for (int x = 0; x < w; x++, k++) o[k >> 3] |= (uint8_t)((src[x] & 1) << (k & 7));
            }
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&out);
    PyBuffer_Release(&band);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "to_dat: buffer sizes do not match the frame shape");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"encode", py_encode, METH_VARARGS, "encode(bits, frames, height, width) -> bytes"},
    {"decode", py_decode, METH_VARARGS, "decode(data, frames, height, width, out) -> None"},
    {"to_dat", py_to_dat, METH_VARARGS, "to_dat(out, band, frames, height, width, row0, rows) -> None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_mixcoder",
                                    "Compiled coder of the .spkz 'mix' model.", -1, methods};

PyMODINIT_FUNC PyInit__mixcoder(void) { return PyModule_Create(&module); }
