/* The traceback walks of agentwatch._stacktrace, in C.
 *
 * Reading tb_next, tb_frame, f_code and tb_lasti from Python costs a few hundred machine
 * instructions each (a generic attribute lookup per read): comparing a framework-deep
 * stack with a cached one is most of what a failing request adds. Here each read is a
 * load. Optional: without a C compiler the package uses the Python versions in
 * _stacktrace.py, which give the same answers (the tests hold them to it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

/* PyTracebackObject (tb_next, tb_frame, tb_lasti) is declared by Python.h since 3.11. */

static int
is_traceback(PyObject *tb)
{
    return tb != NULL && PyTraceBack_Check(tb); /* tb_next is NULL after the last entry */
}

/* The code object of one entry, as a borrowed reference: the frame keeps it alive while
 * the traceback does. */
static PyObject *
entry_code(PyTracebackObject *tb)
{
    PyCodeObject *code = PyFrame_GetCode(tb->tb_frame); /* new reference */
    Py_DECREF(code);
    return (PyObject *)code;
}

PyDoc_STRVAR(stack_key_doc,
"stack_key(tb) -> tuple\n\n"
"(id(code), instruction) of every entry of traceback tb, outermost first, flattened.");

static PyObject *
stack_key(PyObject *module, PyObject *tb)
{
    if (!PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError, "stack_key() expects a traceback");
        return NULL;
    }
    Py_ssize_t depth = 0;
    for (PyObject *walker = tb; is_traceback(walker);
         walker = (PyObject *)((PyTracebackObject *)walker)->tb_next) {
        depth++;
    }
    PyObject *key = PyTuple_New(2 * depth);
    if (key == NULL) {
        return NULL;
    }
    Py_ssize_t i = 0;
    for (PyObject *walker = tb; i < 2 * depth;
         walker = (PyObject *)((PyTracebackObject *)walker)->tb_next) {
        PyTracebackObject *entry = (PyTracebackObject *)walker;
        PyObject *id = PyLong_FromVoidPtr(entry_code(entry));
        PyObject *instruction = id ? PyLong_FromLong(entry->tb_lasti) : NULL;
        if (instruction == NULL) {
            Py_XDECREF(id);
            Py_DECREF(key);
            return NULL;
        }
        PyTuple_SET_ITEM(key, i++, id);
        PyTuple_SET_ITEM(key, i++, instruction);
    }
    return key;
}

PyDoc_STRVAR(is_stack_doc,
"is_stack(tb, frames) -> bool\n\n"
"Whether traceback tb stopped in exactly these code objects at these instructions:\n"
"frames is a tuple of (code, instruction) pairs, outermost first.");

static PyObject *
is_stack(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "is_stack() expects a traceback and a tuple");
        return NULL;
    }
    PyObject *walker = args[0];
    PyObject *frames = args[1];
    Py_ssize_t count = PyTuple_GET_SIZE(frames);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyTuple_GET_ITEM(frames, i);
        if (!is_traceback(walker) || !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            Py_RETURN_FALSE;
        }
        PyTracebackObject *entry = (PyTracebackObject *)walker;
        if (entry_code(entry) != PyTuple_GET_ITEM(pair, 0)) {
            Py_RETURN_FALSE;
        }
        long instruction = PyLong_AsLong(PyTuple_GET_ITEM(pair, 1));
        if (instruction == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (instruction != entry->tb_lasti) {
            Py_RETURN_FALSE;
        }
        walker = (PyObject *)entry->tb_next;
    }
    return PyBool_FromLong(!is_traceback(walker));
}

static PyMethodDef methods[] = {
    {"stack_key", (PyCFunction)stack_key, METH_O, stack_key_doc},
    {"is_stack", (PyCFunction)(void (*)(void))is_stack, METH_FASTCALL, is_stack_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "agentwatch._tbwalk",
    .m_doc = "The traceback walks of agentwatch._stacktrace, in C.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__tbwalk(void)
{
    return PyModuleDef_Init(&module);
}
