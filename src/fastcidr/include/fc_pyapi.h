/* fc_pyapi.h - the few C helpers of the compiled core that need the Python API.
 *
 * Unlike the other headers this one includes Python.h; it is used by the .pyx modules only.
 *
 *   PyObject *fc_py_ascii(buf, n)          a new ASCII str of n <= 16 (or any n) bytes of buf
 *   const char *fc_py_ascii_data(s, &n)    the text of an ASCII str, NULL (no error) otherwise
 *   void fc_list_set_new(list, i, item)    PyList_SET_ITEM (steals item)
 *   PyObject *fc_bytes_new(n)              an uninitialised bytes object, a raw reference
 *   void fc_bytes_drop(b)                  drops such a reference
 *   PyObject *fc_bytes_finish(b, n)        shrinks b (sole owner) to n bytes and writes the CRC-32
 *                                          of its first n - 4 bytes into the last 4 (snapshots)
 */
#ifndef FC_PYAPI_H
#define FC_PYAPI_H

#include <Python.h>

#include "fc_platform.h"

/* buf holds at least 16 readable bytes (FC_ADDR_BUFSIZE); copies n <= 16 bytes with at most
 * two fixed-size moves instead of a call to memcpy */
static inline PyObject *fc_py_ascii(const char *buf, Py_ssize_t n)
{
    PyObject *s = PyUnicode_New(n, 127);
    char *d;
    if (!s) return NULL;
    d = (char *)PyUnicode_DATA(s);
    if (n >= 8 && n <= 16) {
        memcpy(d, buf, 8);
        memcpy(d + n - 8, buf + n - 8, 8);
    } else {
        memcpy(d, buf, (size_t)n);
    }
    return s;
}
/* the ASCII text of a str, or NULL (no exception) when it is not pure ASCII */
static inline const char *fc_py_ascii_data(PyObject *s, Py_ssize_t *n)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0) { PyErr_Clear(); return NULL; }
#endif
    if (!PyUnicode_IS_ASCII(s)) return NULL;
    *n = PyUnicode_GET_LENGTH(s);
    return (const char *)PyUnicode_DATA(s);
}
static inline void fc_list_set_new(PyObject *list, Py_ssize_t i, PyObject *item)
{
    PyList_SET_ITEM(list, i, item); /* steals the new reference */
}
/* an uninitialised bytes object of n bytes, owned by the caller as a raw reference */
static inline PyObject *fc_bytes_new(Py_ssize_t n) { return PyBytes_FromStringAndSize(NULL, n); }
static inline void fc_bytes_drop(PyObject *b) { Py_DECREF(b); }
/* shrinks b (sole owner) to n bytes and hands the reference over */
static inline PyObject *fc_bytes_finish(PyObject *b, Py_ssize_t n)
{
    unsigned char *p;
    uint32_t crc;
    if (_PyBytes_Resize(&b, n) < 0) return NULL;
    p = (unsigned char *)PyBytes_AS_STRING(b);
    crc = fc_crc32(p, (size_t)(n - 4));
    p[n - 4] = (unsigned char)crc;
    p[n - 3] = (unsigned char)(crc >> 8);
    p[n - 2] = (unsigned char)(crc >> 16);
    p[n - 1] = (unsigned char)(crc >> 24);
    return b;
}

#endif /* FC_PYAPI_H */
