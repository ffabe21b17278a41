/* One sampled character on the CPU, natively where it pays: each layer's elementwise step in
one call (models/cpu_stepper.py), and the top-k draw from the logits (engine/infer/sampling.py).

Why native: between its two matrix products a layer of one sampling stream does a handful of
elementwise operations on a few thousand floats. As ATen calls that is 6-7 calls a layer at
1-2 us of dispatch each, a quarter of a character's time at 256x2, for work that takes well
under a microsecond of arithmetic. Here it is one call, one pass, vectorised.

The cells take the addresses of preallocated fp32 buffers (the stepper owns them and keeps
them alive), row strides in floats for the inputs, and the number of streams (rows). The
arithmetic is the same as the stepper's ATen path and as torch's cells, up to rounding:

  lstm: gates = x + rec, in the stepper's order (i, f, o, g);
        c = sigmoid(f) * c + sigmoid(i) * tanh(g);  h = sigmoid(o) * tanh(c)
  gru:  x and rec each (r, z, n);  r, z = sigmoid(x_rz + rec_rz);
        n = tanh(x_n + r * rec_n);  h = (h - n) * z + n
  rnn:  h = tanh(x + rec)

sigmoid and tanh are written through expf so that the loop vectorises with glibc's vector expf
(libmvec): declared here as math.h declares it under -ffast-math, without the rest of
fast-math (NaN and infinity keep their meaning, so a damaged model still shows as one). The
loops are compiled for the baseline x86-64 and for x86-64-v3 (AVX2) and v4 (AVX-512), chosen
once at load by the CPU (gcc's target_clones). Built only on Linux x86-64 with gcc (setup.py);
elsewhere the stepper uses its ATen path.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

__attribute__((simd("notinbranch"))) float expf(float);

#define CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))

static inline float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }
static inline float tanh_(float v) { return 2.0f / (1.0f + expf(-2.0f * v)) - 1.0f; }

CLONES static void lstm_row(const float *restrict x, const float *restrict rec, float *restrict c,
                            float *restrict h, Py_ssize_t n) {
#pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++) {
        float i = sigmoid(x[j] + rec[j]);
        float f = sigmoid(x[n + j] + rec[n + j]);
        float o = sigmoid(x[2 * n + j] + rec[2 * n + j]);
        float g = tanh_(x[3 * n + j] + rec[3 * n + j]);
        float cj = f * c[j] + i * g;
        c[j] = cj;
        h[j] = o * tanh_(cj);
    }
}

CLONES static void gru_row(const float *restrict x, const float *restrict rec, float *restrict h, Py_ssize_t n) {
#pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++) {
        float r = sigmoid(x[j] + rec[j]);
        float z = sigmoid(x[n + j] + rec[n + j]);
        float cand = tanh_(x[2 * n + j] + r * rec[2 * n + j]);
        h[j] = (h[j] - cand) * z + cand;
    }
}

CLONES static void rnn_row(const float *restrict x, const float *restrict rec, float *restrict h, Py_ssize_t n) {
#pragma omp simd
    for (Py_ssize_t j = 0; j < n; j++)
        h[j] = tanh_(x[j] + rec[j]);
}

/* Arguments, all Python ints: rec, rec_stride, c (lstm only), h, size, streams, x_stride, x.
   x comes last so that the stepper can bind the rest once and pass layer 0's input per call. */
static int parse(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, Py_ssize_t *values) {
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "expected %zd arguments, got %zd", expected, nargs);
        return -1;
    }
    for (Py_ssize_t k = 0; k < nargs; k++) {
        values[k] = PyLong_AsSsize_t(args[k]);
        if (values[k] == -1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

#define AT(address) ((float *)(uintptr_t)(address))

static PyObject *lstm(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t v[8];
    if (parse(args, nargs, 8, v) < 0)
        return NULL;
    for (Py_ssize_t s = 0; s < v[5]; s++)
        lstm_row(AT(v[7]) + s * v[6], AT(v[0]) + s * v[1], AT(v[2]) + s * v[4], AT(v[3]) + s * v[4], v[4]);
    Py_RETURN_NONE;
}

static PyObject *gru(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t v[7];
    if (parse(args, nargs, 7, v) < 0)
        return NULL;
    for (Py_ssize_t s = 0; s < v[4]; s++)
        gru_row(AT(v[6]) + s * v[5], AT(v[0]) + s * v[1], AT(v[2]) + s * v[3], v[3]);
    Py_RETURN_NONE;
}

static PyObject *rnn(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t v[7];
    if (parse(args, nargs, 7, v) < 0)
        return NULL;
    for (Py_ssize_t s = 0; s < v[4]; s++)
        rnn_row(AT(v[6]) + s * v[5], AT(v[0]) + s * v[1], AT(v[2]) + s * v[3], v[3]);
    Py_RETURN_NONE;
}

/* draw(logits, vocab, k, temperature, top_p, u): the id drawn from fp32 logits (vocab,) at
   address `logits`, by exactly the rule of engine/infer/sampling.py's _draw_one, so that both give
   the same id for the same uniform `u` in [0, 1): the k largest (ties: the lower id first),
   weights exp((v - best) / temperature) in double, top-p over them when top_p < 1, then the
   first candidate at which u * (sum of weights) is used up. -1 when the best is not finite
   (a damaged model). k is at most DRAW_MAX_K; more goes through the Python path. */
#define DRAW_MAX_K 64

static PyObject *draw(PyObject *self, PyObject *args) {
    Py_ssize_t address, vocab, k;
    double temperature, top_p, u;
    if (!PyArg_ParseTuple(args, "nnnddd", &address, &vocab, &k, &temperature, &top_p, &u))
        return NULL;
    if (k < 1 || k > DRAW_MAX_K || k > vocab) {
        PyErr_Format(PyExc_ValueError, "k must be 1 to %d and at most the vocabulary, not %zd", DRAW_MAX_K, k);
        return NULL;
    }
    const float *logits = AT(address);
    float values[DRAW_MAX_K];
    Py_ssize_t ids[DRAW_MAX_K], kept = 0;
    for (Py_ssize_t id = 0; id < vocab; id++) { /* insertion into the k best, most likely first */
        float v = logits[id];
        if (isnan(v)) /* torch.topk ranks NaN first: the Python rule then refuses the model too */
            return PyLong_FromLong(-1);
        if (kept == k && !(v > values[k - 1]))
            continue;
        Py_ssize_t at = kept < k ? kept++ : k - 1;
        while (at > 0 && v > values[at - 1]) {
            values[at] = values[at - 1];
            ids[at] = ids[at - 1];
            at--;
        }
        values[at] = v;
        ids[at] = id;
    }
    if (!isfinite(values[0]))
        return PyLong_FromLong(-1);
    double weights[DRAW_MAX_K], total = 0.0;
    for (Py_ssize_t j = 0; j < k; j++) {
        weights[j] = exp(((double)values[j] - (double)values[0]) / temperature);
        total += weights[j];
    }
    Py_ssize_t count = k;
    if (top_p < 1.0) { /* keep a candidate while the mass before it is short of p (the first stays) */
        double before = 0.0;
        count = 0;
        while (count < k && before < top_p * total)
            before += weights[count++];
    }
    double sum = 0.0;
    for (Py_ssize_t j = 0; j < count; j++)
        sum += weights[j];
    double point = u * sum;
    for (Py_ssize_t j = 0; j < count; j++) {
        point -= weights[j];
        if (point < 0.0)
            return PyLong_FromSsize_t(ids[j]);
    }
    return PyLong_FromSsize_t(ids[count - 1]); /* rounding left the point at the very end */
}

static PyMethodDef methods[] = {
    {"draw", draw, METH_VARARGS, "draw(logits, vocab, k, temperature, top_p, u): the drawn id, as engine/infer/sampling.py's rule"},
    {"lstm", (PyCFunction)(void (*)(void))lstm, METH_FASTCALL,
     "lstm(rec, rec_stride, c, h, size, streams, x_stride, x): one LSTM layer's elementwise step in place"},
    {"gru", (PyCFunction)(void (*)(void))gru, METH_FASTCALL,
     "gru(rec, rec_stride, h, size, streams, x_stride, x): one GRU layer's elementwise step in place"},
    {"rnn", (PyCFunction)(void (*)(void))rnn, METH_FASTCALL,
     "rnn(rec, rec_stride, h, size, streams, x_stride, x): one tanh RNN layer's elementwise step in place"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fused_step",
                                    "One sampled character on the CPU: the layers' elementwise steps and the top-k draw.", -1, methods};

PyMODINIT_FUNC PyInit__fused_step(void) { return PyModule_Create(&module); }
