"""One sample on the CPU, one character per call, as close to the cost of its products as we can get.

A single stream reads every weight once per character, so its time is the products' memory
traffic plus whatever runs between them. Three things keep both small:

* Products stacked by the vector they multiply. Each layer's new h is multiplied by two
  matrices: its own recurrent weights (for the next character) and the next layer's input
  weights (for this one), or the output layer for the top layer. Stacked into one matrix that
  is one call per layer instead of two, and the output layer costs no call of its own: at 2
  layers, 2 calls a character instead of 4, on the same bytes. Layer 0's input is a one-hot,
  and a one-hot times a matrix is a row of it: a table, a row per character, with the biases
  that can be folded.
* Each product in the layout its kernel reads fastest (`Product`, `product_layout`): for one
  fp32 stream, weights stored column-major for MKL's matrix-vector product (25-35% faster
  than the row-major original) up to 3 MB a product, and oneDNN's packed layout from there
  (1.4x faster than MKL's at 512x2); several fp32 streams through oneDNN (3x MKL's matrix
  product at 8 rows); bf16 row-major, as a one-row matrix product (oneDNN), 1.4-1.6x a bf16
  matrix-vector product. Measured on a 2-core AMD EPYC (Zen 4), torch 2.13, 2026-12-02,
  alternating rounds (README, Sampling at the machine's limit).
* The elementwise part of each layer (gates, cell state, h) in one native call where
  models/fused_step.c was built (`native_step_module`), else a few ATen calls.
* Each column-major matrix on a page boundary and its output half a page past one
  (`OUT_OFFSET`): at the same offset the kernel's loads wait on its own stores.
* Everything preallocated: products, gates and state are written in place (`out=` and
  in-place operations on views cut once, at the start), so a character is a fixed list of ATen
  calls with no allocation and no slicing. The LSTM's gates are reordered (input, forget,
  output, cell) so that one sigmoid covers three of them.

Same weights and arithmetic as `CharRNN.forward` in eval mode, up to the order of additions
(tested equal to 1e-5 in fp32).
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import torch
from torch import Tensor

from workbench.models.int8 import Int8Product
from workbench.models.int8 import stacked as int8_stacked

_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


class Product:
    """`out = base + matrix @ vector` as one preallocated call, with `matrix` (rows x cols)
    stored in the layout its kernel reads fastest (`product_layout`); `vector` is (cols,) for
    one stream or (N, cols) for N, `out` (rows,) or (N, rows). `run()` runs the product."""

    def __init__(self, matrix: Tensor, base: Tensor, vector: Tensor, out: Tensor, layout: str | None = None) -> None:
        """`layout`: another of `LAYOUTS` than the rule's (for the benchmark's floor)."""
        rows, cols = matrix.shape
        self.matrix_bytes = matrix.numel() * matrix.element_size()
        streams = 1 if vector.dim() == 1 else vector.shape[0]
        self.layout = layout or product_layout(matrix.dtype, matrix.device, streams, self.matrix_bytes)
        if self.layout == "column-major":
            self.matrix = at_page_offset((cols, rows), matrix.dtype, 0).t()
            self.matrix.copy_(matrix)
            self.run: Callable[[], Tensor] = functools.partial(torch.addmv, base, self.matrix, vector, out=out)
        elif self.layout == ONEDNN:
            # oneDNN's own blocked copy of the weights for this many rows; its product returns
            # a new tensor, copied into the preallocated one that the elementwise steps read
            vectors = vector.view(-1, cols)
            self.matrix = torch.ops.mkldnn._reorder_linear_weight(matrix.contiguous(), vectors.shape[0])
            self.run = functools.partial(_onednn_product, self.matrix, base, vectors, out.view(-1, rows))
        elif self.layout == "row-major, as a matrix product":
            self.matrix = matrix.contiguous()
            self.run = functools.partial(torch.addmm, base.view(1, rows), vector.view(-1, cols), self.matrix.t(),
                                         out=out.view(-1, rows))
        else:
            self.matrix = matrix.contiguous()
            self.run = functools.partial(torch.addmv, base, self.matrix, vector, out=out)


ONEDNN = "oneDNN's packed layout, as a matrix product"
LAYOUTS = ("column-major", ONEDNN, "row-major, as a matrix product", "row-major")
ONEDNN_FROM_BYTES = 3_000_000
"""One fp32 stream's products from this size on go through oneDNN, smaller ones through MKL's
matrix-vector product: per product, alternating rounds on a 2-core AMD EPYC (torch 2.13,
2026-12-02), MKL was faster up to 1.7 MB (21 us against 33 us at 1.1 MB) and oneDNN from
3.3 MB (98 us against 137 us at 8.4 MB, 240 against 471 at 18.9 MB)."""


def product_layout(dtype: torch.dtype, device: torch.device, streams: int = 1, matrix_bytes: int = 0) -> str:
    """The weight layout of the products on the CPU: a fixed rule per dtype, stream count and
    size (not timed at run time, so that the same seed gives the same text in every process).
    Several fp32 streams go through oneDNN: MKL's fp32 matrix product at 8 rows ran 3x slower
    than oneDNN's on the same weights (512x2, same machine and day as ONEDNN_FROM_BYTES)."""
    if device.type != "cpu":
        return "row-major"
    onednn = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    if dtype == torch.float32 and onednn and (streams > 1 or matrix_bytes >= ONEDNN_FROM_BYTES):
        return ONEDNN
    if streams == 1 and dtype == torch.float32:
        return "column-major" if torch.backends.mkl.is_available() else "row-major"
    return "row-major, as a matrix product"


PAGE = 4096
OUT_OFFSET = PAGE // 2
"""Where a product's output starts past a 4 KiB boundary, its column-major matrix starting on
one. When the two sit at nearly the same offset within a page (a column of 1024 or 2048 floats
is whole pages, so every column does), the kernel's loads of the matrix are taken for
dependents of its stores to the output (4 KiB aliasing): MKL's matrix-vector product at 256x2
(2048 x 256) took 47-50 us with the output 0-512 bytes past the matrix's page offset against
37-39 us at 1-3 KB (2-core AMD EPYC, 2026-12-03), and malloc put some steppers' buffers there."""


def at_page_offset(shape: tuple[int, ...], dtype: torch.dtype, offset: int) -> Tensor:
    """An uninitialised tensor of `shape` whose data starts `offset` bytes past a page boundary."""
    numel, size = math.prod(shape), torch.empty((), dtype=dtype).element_size()
    buffer = torch.empty(numel + PAGE // size, dtype=dtype)
    start = ((offset - buffer.data_ptr()) % PAGE) // size
    return buffer[start:start + numel].view(shape)


def _onednn_product(packed: Tensor, base: Tensor, vectors: Tensor, out: Tensor) -> Tensor:
    return out.copy_(torch.ops.mkldnn._linear_pointwise(vectors, packed, base, "none", [], ""))


def _lstm_order(hidden: int) -> Tensor:
    """Row order that turns PyTorch's LSTM gates (i, f, g, o) into (i, f, o, g)."""
    return torch.cat([torch.arange(0, 2 * hidden), torch.arange(3 * hidden, 4 * hidden),
                      torch.arange(2 * hidden, 3 * hidden)])


class CpuStepper:
    """The recurrent state of N streams on the CPU, advanced by one character per call
    (`step_one` for one stream, `step` for several). `hidden` is the model's state (each part
    (layers, N, H)), as after its prime."""

    def __init__(self, model: "torch.nn.Module", hidden: tuple[Tensor, ...], packed: dict | None = None,
                 native: bool | None = None, layout: str | None = None) -> None:
        """`packed`: the int8 form of the model's weights by name (models/int8.py), to step with
        those instead (the model's own weights are then the rounded ones, for layer 0's table).
        `native`: the elementwise steps in models/fused_step.c (None: wherever it applies,
        which is the rule the sampler uses; False: the ATen path; True: that or an error).
        `layout`: every product in that one of `LAYOUTS` instead of the rule's (the floor's)."""
        config, rnn = model.config, model.rnn
        self.cell, self.layers, self.size = config.cell, config.layers, config.hidden
        self.width = _GATES[self.cell] * self.size
        order = _lstm_order(self.size) if self.cell == "lstm" else torch.arange(self.width)

        def weight(name: str) -> Tensor:
            return getattr(rnn, name).detach()

        # LSTM and RNN add the two biases before any nonlinearity, so both fold into the input
        # side; a GRU's recurrent bias sits inside its reset gate and stays with the recurrence.
        fold = self.cell != "gru"
        b_in = [(weight(f"bias_ih_l{l}") + weight(f"bias_hh_l{l}") if fold else weight(f"bias_ih_l{l}"))[order]
                for l in range(self.layers)]
        b_rec = [torch.zeros_like(b) if fold else weight(f"bias_hh_l{l}")[order] for l, b in enumerate(b_in)]
        table = (weight("weight_ih_l0")[order].t() + b_in[0]).contiguous()  # (V, G*H): layer 0's input part
        # detached: the buffers are written in place each character, never part of a graph. One
        # stream's state is a vector (its products are matrix-vector), N streams' (N, H).
        self.streams = hidden[0].shape[1]
        state = [part[:, 0] if self.streams == 1 else part for part in hidden]
        self.h = [state[0][l].detach().clone() for l in range(self.layers)]
        self.c = [state[1][l].detach().clone() for l in range(self.layers)] if self.cell == "lstm" else []
        lead = () if self.streams == 1 else (self.streams,)
        # products[l]: h_l -> (input part of layer l + 1, or the logits; recurrent part of layer l)
        vocab = model.fc.weight.shape[0]
        above = [(f"rnn.weight_ih_l{l + 1}", order, b_in[l + 1]) for l in range(self.layers - 1)]
        above.append(("fc.weight", torch.arange(vocab), model.fc.bias.detach()))
        self.out: list[Tensor] = []
        self.products: list[Product | Int8Product] = []
        for l, (name, rows_above, b_above) in enumerate(above):
            out = at_page_offset((*lead, len(rows_above) + self.width), table.dtype, OUT_OFFSET)
            base = torch.cat([b_above, b_rec[l]])
            if packed is None:
                matrix = torch.cat([model.get_parameter(name).detach()[rows_above], weight(f"weight_hh_l{l}")[order]])
                product: Product | Int8Product = Product(matrix, base, self.h[l], out, layout)
            else:
                matrix = int8_stacked([packed[name], packed[f"rnn.weight_hh_l{l}"]], [rows_above, order])
                product = Int8Product(matrix, base, self.h[l], out)
            product.run()  # the recurrent part of the state as given (and the logits it gives)
            self.out.append(out)
            self.products.append(product)
        self.logits = self.out[-1][..., :vocab]
        self.table = table
        self.picked = torch.empty(*lead, self.width, dtype=table.dtype, device=table.device)  # step(): table rows
        self._cut_views(list(table.unbind(0)), native)

    def _cut_views(self, rows: list[Tensor], native: bool | None) -> None:
        """The calls of one character, bound once to the views they write and read in place:
        `first` (layer 0's elementwise step, given its input part: a row of the table or the
        picked rows) and `calls` (layer 0's product, then each further layer's elementwise step
        and product). The elementwise steps are one native call a layer (models/fused_step.c)
        where that was built and the state is fp32, else a few ATen calls."""
        size, width, streams = self.size, self.width, self.streams
        recurrent = [out[..., -width:] for out in self.out]
        inputs: list = [self.out[l - 1][..., :width] for l in range(1, self.layers)]
        cells = native_step_module() if native is not False and self.picked.dtype == torch.float32 else None
        if native and cells is None:
            raise RuntimeError("the native cells (models/fused_step.c) are not built here, or the state is not fp32")
        self.native = cells is not None
        self.gates = [torch.empty_like(self.picked) for _ in range(self.layers)]
        self.tanh_c = [torch.empty_like(c) for c in self.c]
        layer_steps: list[Callable] = []
        for l in range(self.layers):
            rec = recurrent[l]
            if cells is not None:
                # addresses of the bound buffers (the stepper holds every one of them); layer 0's
                # input is a table row or the picked rows, the others' the product of the layer below
                state = [self.c[l].data_ptr()] if self.cell == "lstm" else []
                x_stride = width if l == 0 else _row_stride(inputs[l - 1])
                layer_steps.append(functools.partial(getattr(cells, self.cell), rec.data_ptr(), _row_stride(rec),
                                                     *state, self.h[l].data_ptr(), size, streams, x_stride))
            elif self.cell == "lstm":
                g = self.gates[l]
                layer_steps.append(functools.partial(
                    _lstm_cell, rec, g, g[..., : 3 * size], g[..., 3 * size :], g[..., :size], g[..., size : 2 * size],
                    g[..., 2 * size : 3 * size], self.c[l], self.tanh_c[l], self.h[l]))
            elif self.cell == "gru":
                g = self.gates[l]
                layer_steps.append(functools.partial(_gru_cell, rec[..., : 2 * size], rec[..., 2 * size :], g[..., : 2 * size],
                                                     g[..., :size], g[..., size : 2 * size], g[..., 2 * size :], self.h[l]))
            else:
                layer_steps.append(functools.partial(_rnn_cell, rec, self.h[l]))
        # what each layer's step is given as its input part
        if cells is not None:
            as_input: Callable = lambda x: x.data_ptr()  # noqa: E731
        elif self.cell == "gru":  # a GRU adds its candidate's input part apart from the rest
            as_input = lambda x: (x[..., : 2 * size], x[..., 2 * size :])  # noqa: E731
        else:
            as_input = lambda x: x  # noqa: E731
        self.row_inputs = [as_input(row) for row in rows]
        self.picked_input = as_input(self.picked)
        self.first = layer_steps[0]
        self.calls: list[Callable] = [self.products[0].run]
        for l in range(1, self.layers):
            self.calls += [functools.partial(layer_steps[l], as_input(inputs[l - 1])), self.products[l].run]

    # The logits either step returns are a view that the next call overwrites: read them
    # before stepping again.

    def step_one(self, char: int) -> Tensor:
        """A single stream: character id -> logits (V,) for the next one."""
        self.first(self.row_inputs[char])
        for call in self.calls:
            call()
        return self.logits

    def step(self, ids: Tensor) -> Tensor:
        """N streams (N > 1): ids (N,) -> logits (N, V)."""
        torch.index_select(self.table, 0, ids, out=self.picked)
        self.first(self.picked_input)
        for call in self.calls:
            call()
        return self.logits


def _row_stride(view: Tensor) -> int:
    """Floats from one stream's row to the next (0 for one stream, which has one row)."""
    return view.stride(0) if view.dim() == 2 else 0


@functools.cache
def native_step_module():  # -> the module, or None
    """models/fused_step.c as built by setup.py (the layers' elementwise steps and the top-k
    draw), or None where it was not (another platform, no compiler at install): then the ATen
    path and the Python draw."""
    try:
        from workbench.models import _fused_step
    except ImportError:
        return None
    return _fused_step


# One layer's elementwise step as ATen calls, `x` its input part; each writes the layer's views
# in place (the same arithmetic as models/fused_step.c).

def _lstm_cell(rec: Tensor, gates: Tensor, sigmoids: Tensor, cell: Tensor, i: Tensor, f: Tensor, o: Tensor,
               c: Tensor, tanh_c: Tensor, h: Tensor, x: Tensor) -> None:
    torch.add(x, rec, out=gates)
    sigmoids.sigmoid_()
    cell.tanh_()
    c.mul_(f).addcmul_(i, cell)
    torch.tanh(c, out=tanh_c)
    torch.mul(o, tanh_c, out=h)


def _gru_cell(rec_rz: Tensor, rec_n: Tensor, rz: Tensor, r: Tensor, z: Tensor, n: Tensor, h: Tensor,
              x: tuple[Tensor, Tensor]) -> None:
    x_rz, x_n = x
    torch.add(x_rz, rec_rz, out=rz)
    rz.sigmoid_()
    torch.addcmul(x_n, r, rec_n, out=n)
    n.tanh_()
    h.sub_(n).mul_(z).add_(n)  # (1 - z) * n + z * h


def _rnn_cell(rec: Tensor, h: Tensor, x: Tensor) -> None:
    torch.add(x, rec, out=h)
    h.tanh_()
