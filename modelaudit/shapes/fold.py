"""Evaluates the small integer tensor computations that produce shapes (Shape, Gather, Concat…).

Values are numpy arrays. A *partial* value is a 1-D object array whose unknown entries are a
symbolic dim name (str) or None: `Shape` of a tensor with a symbolic batch gives
`['batch', 116, 28, 28]`, and `Gather(…, 1)` of it is the known 116.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from onnx import helper, numpy_helper

__all__ = ["MAX_FOLD_ELEMENTS", "evaluate", "is_partial", "FOLDABLE"]

MAX_FOLD_ELEMENTS = 65_536  # larger results are data, not shapes: never materialised

Value = np.ndarray
_Eval = Callable[..., "Value | None"]
FOLDABLE: dict[str, _Eval] = {}


def is_partial(value: Value) -> bool:
    return value.dtype == object


def _op(*names: str):
    def register(fn: _Eval) -> _Eval:
        for name in names:
            FOLDABLE[name] = fn
        return fn

    return register


def evaluate(op_type: str, inputs: list[Value | None], attrs: dict, in_shapes: list) -> list[Value] | None:
    """Outputs of one node from known input values, or None when they cannot be computed."""
    fn = FOLDABLE.get(op_type)
    if fn is None:
        return None
    try:
        out = fn(inputs, attrs, in_shapes)
    except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError, MemoryError):
        return None
    if out is None:
        return None
    outs = [_normalise(o) for o in (out if isinstance(out, list) else [out])]
    known = [o for o in outs if o is not None and o.size <= MAX_FOLD_ELEMENTS]
    return known if len(known) == len(outs) else None


def _normalise(value) -> Value | None:
    """An ndarray; a partial one becomes plain int64 once every entry is known."""
    if value is None:
        return None
    if not isinstance(value, np.ndarray):
        value = np.array(value, dtype=object if isinstance(value, (str, type(None))) else None)
    if value.dtype == object:
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value.flat):
            return value.astype(np.int64)
        if all(v is None for v in value.flat):
            return None
    return value


def _known(*values: Value | None) -> bool:
    return all(v is not None and not is_partial(v) for v in values)


def _int(value: Value) -> int:
    return int(np.asarray(value).reshape(-1)[0])


@_op("Shape")
def _shape(inputs, attrs, in_shapes):
    shape = in_shapes[0]
    if shape is None:
        return None
    start, end = attrs.get("start", 0), attrs.get("end")
    dims = list(shape)[start:end]
    if all(isinstance(d, int) for d in dims):
        return np.array(dims, dtype=np.int64)
    return np.array(dims, dtype=object)


@_op("Size")
def _size(inputs, attrs, in_shapes):
    shape = in_shapes[0]
    if shape is None or not all(isinstance(d, int) for d in shape):
        return None
    return np.array(math.prod(shape), dtype=np.int64)


@_op("Identity")
def _identity(inputs, attrs, in_shapes):
    return inputs[0]


@_op("Cast")
def _cast(inputs, attrs, in_shapes):
    x = inputs[0]
    if x is None:
        return None
    np_type = helper.tensor_dtype_to_np_dtype(attrs["to"])
    if is_partial(x):
        return x if np.issubdtype(np_type, np.integer) else None
    return x.astype(np_type)


@_op("Gather")
def _gather(inputs, attrs, in_shapes):
    data, indices = inputs[0], inputs[1]
    if data is None or not _known(indices):
        return None
    return np.take(data, indices.astype(np.int64), axis=attrs.get("axis", 0))


@_op("Unsqueeze")
def _unsqueeze(inputs, attrs, in_shapes):
    x = inputs[0]
    axes = attrs.get("axes") if len(inputs) < 2 else (None if not _known(inputs[1]) else inputs[1])
    if x is None or axes is None:
        return None
    rank = x.ndim + len(np.atleast_1d(axes))
    out = x
    for axis in sorted(int(a) % rank for a in np.atleast_1d(axes)):
        out = np.expand_dims(out, axis)
    return out


@_op("Squeeze")
def _squeeze(inputs, attrs, in_shapes):
    x = inputs[0]
    if x is None:
        return None
    axes = attrs.get("axes") if len(inputs) < 2 or inputs[1] is None else inputs[1]
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(int(a) % x.ndim for a in np.atleast_1d(axes)))


@_op("Split")
def _split(inputs, attrs, in_shapes):
    """onnxruntime's optimizer turns Gathers of a shape into one Split (GatherSliceToSplitFusion)."""
    x = inputs[0]
    if x is None or x.ndim == 0:
        return None
    axis = int(attrs.get("axis", 0)) % x.ndim
    sizes = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attrs.get("split")
    if sizes is None:
        parts = attrs.get("num_outputs")
        return None if not parts else list(np.array_split(x, int(parts), axis=axis))
    if not _known(np.asarray(sizes)):
        return None
    return list(np.split(x, np.cumsum(np.asarray(sizes, np.int64))[:-1], axis=axis))


@_op("Concat")
def _concat(inputs, attrs, in_shapes):
    if any(v is None for v in inputs):
        return None
    dtype = object if any(is_partial(v) for v in inputs) else None
    parts = [v.astype(object) if dtype is object else v for v in inputs]
    return np.concatenate(parts, axis=attrs.get("axis", 0))


@_op("Slice")
def _slice(inputs, attrs, in_shapes):
    data = inputs[0]
    if data is None:
        return None
    if len(inputs) > 1:  # opset >= 10: starts, ends, axes, steps are inputs
        if not _known(*inputs[1:3]) or not all(_known(v) for v in inputs[3:] if v is not None):
            return None
        starts, ends = inputs[1], inputs[2]
        axes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else range(len(starts))
        steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    else:
        starts, ends = attrs["starts"], attrs["ends"]
        axes = attrs.get("axes", range(len(starts)))
        steps = [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[int(axis) % data.ndim] = slice(int(start), int(end), int(step))
    return data[tuple(index)]


def _elementwise(fn: Callable, identity_ok: Callable | None = None) -> _Eval:
    def run(inputs, attrs, in_shapes):
        if any(v is None for v in inputs):
            return None
        if _known(*inputs):
            return np.asarray(fn(*inputs))
        if len(inputs) != 2:
            return None
        a, b = np.broadcast_arrays(*[v.astype(object) for v in inputs])
        out = np.empty(a.shape, dtype=object)
        for i, (x, y) in enumerate(zip(a.flat, b.flat)):
            if isinstance(x, (int, np.integer)) and isinstance(y, (int, np.integer)):
                out.flat[i] = int(fn(np.int64(x), np.int64(y)))
            else:
                out.flat[i] = identity_ok(x, y) if identity_ok else None
        return out

    return run


def _keep_symbol(op: str):
    """x*1, x+0, x-0 and x/1 keep a symbolic dim's name; anything else makes it unknown."""
    neutral = {"Mul": 1, "Add": 0, "Sub": 0, "Div": 1}[op]

    def keep(x, y):
        if isinstance(x, str) and not isinstance(y, str) and y == neutral:
            return x
        if op in ("Mul", "Add") and isinstance(y, str) and not isinstance(x, str) and x == neutral:
            return y
        return None

    return keep


def _int_div(a, b):
    if np.issubdtype(np.asarray(a).dtype, np.integer) and np.issubdtype(np.asarray(b).dtype, np.integer):
        return np.trunc(np.divide(a, b)).astype(np.result_type(a, b))  # C semantics, as onnxruntime
    return np.divide(a, b)


_op("Add")(_elementwise(np.add, _keep_symbol("Add")))
_op("Sub")(_elementwise(np.subtract, _keep_symbol("Sub")))
_op("Mul")(_elementwise(np.multiply, _keep_symbol("Mul")))
_op("Div")(_elementwise(_int_div, _keep_symbol("Div")))
_op("Mod")(_elementwise(np.mod))
_op("Pow")(_elementwise(np.power))
_op("Equal")(_elementwise(np.equal))
_op("Less")(_elementwise(np.less))
_op("Greater")(_elementwise(np.greater))
_op("LessOrEqual")(_elementwise(np.less_equal))
_op("GreaterOrEqual")(_elementwise(np.greater_equal))
_op("And")(_elementwise(np.logical_and))
_op("Or")(_elementwise(np.logical_or))
_op("Neg")(_elementwise(np.negative))
_op("Abs")(_elementwise(np.abs))
_op("Not")(_elementwise(np.logical_not))
_op("Floor")(_elementwise(np.floor))
_op("Ceil")(_elementwise(np.ceil))
_op("Sqrt")(_elementwise(np.sqrt))
_op("Sign")(_elementwise(np.sign))


def _variadic(fn: np.ufunc) -> _Eval:
    def run(inputs, attrs, in_shapes):
        return fn.reduce(np.broadcast_arrays(*inputs)) if _known(*inputs) else None

    return run


_op("Min")(_variadic(np.minimum))
_op("Max")(_variadic(np.maximum))


@_op("Where")
def _where(inputs, attrs, in_shapes):
    return np.where(*inputs) if _known(*inputs) else None


@_op("Range")
def _range(inputs, attrs, in_shapes):
    if not _known(*inputs):
        return None
    start, limit, delta = (np.asarray(v).reshape(()) for v in inputs)
    if delta == 0:
        return None
    count = max(int(math.ceil((limit - start) / delta)), 0)
    if count > MAX_FOLD_ELEMENTS:
        return None
    return (start + np.arange(count) * delta).astype(np.result_type(start, limit, delta))


@_op("ConstantOfShape")
def _constant_of_shape(inputs, attrs, in_shapes):
    if not _known(inputs[0]):
        return None
    shape = [int(d) for d in inputs[0].reshape(-1)]
    if math.prod(shape) > MAX_FOLD_ELEMENTS or any(d < 0 for d in shape):
        return None
    value = attrs.get("value")
    fill = numpy_helper.to_array(value).reshape(-1)[0] if value is not None else np.float32(0)
    return np.full(shape, fill)


@_op("Expand")
def _expand(inputs, attrs, in_shapes):
    if not _known(*inputs):
        return None
    shape = np.broadcast_shapes(inputs[0].shape, tuple(int(d) for d in inputs[1]))
    if math.prod(shape) > MAX_FOLD_ELEMENTS:
        return None
    return np.broadcast_to(inputs[0], shape).copy()


@_op("Tile")
def _tile(inputs, attrs, in_shapes):
    if not _known(*inputs) or inputs[0].size * math.prod(int(r) for r in inputs[1]) > MAX_FOLD_ELEMENTS:
        return None
    return np.tile(inputs[0], [int(r) for r in inputs[1]])


@_op("Reshape")
def _reshape(inputs, attrs, in_shapes):
    data, shape = inputs
    if data is None or not _known(shape):
        return None
    target = [int(d) for d in shape]
    if not attrs.get("allowzero", 0):
        target = [data.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return data.reshape(target)


@_op("Transpose")
def _transpose(inputs, attrs, in_shapes):
    return None if inputs[0] is None else np.transpose(inputs[0], attrs.get("perm"))


@_op("Flatten")
def _flatten(inputs, attrs, in_shapes):
    x = inputs[0]
    if x is None:
        return None
    axis = attrs.get("axis", 1) % (x.ndim + 1) if x.ndim else 0
    return x.reshape(math.prod(x.shape[:axis]), -1)


def _reduce(fn: Callable) -> _Eval:
    def run(inputs, attrs, in_shapes):
        x = inputs[0]
        if not _known(x):
            return None
        axes = attrs.get("axes")
        if len(inputs) > 1 and inputs[1] is not None:
            if not _known(inputs[1]):
                return None
            axes = inputs[1]
        if axes is not None and len(np.atleast_1d(axes)) == 0:
            axes = None if not attrs.get("noop_with_empty_axes", 0) else ()
        if axes == ():
            return x
        axis = None if axes is None else tuple(int(a) % x.ndim for a in np.atleast_1d(axes))
        return fn(x, axis=axis, keepdims=bool(attrs.get("keepdims", 1)))

    return run


_op("ReduceProd")(_reduce(np.prod))
_op("ReduceSum")(_reduce(np.sum))
_op("ReduceMax")(_reduce(np.max))
_op("ReduceMin")(_reduce(np.min))
