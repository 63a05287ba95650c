"""Python source text for ``netcalc export``: values and formulas as integer Python, ``when:``
conditions, ``torch.nn`` constructor calls, and safe names for modules and variables.

Everything a spec says reaches the generated file through here: names are made identifiers (or
written with ``getattr``/``add_module``), strings are escaped literals and comments are escaped
(netcalc.escape), so spec text never becomes code.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from fractions import Fraction

from .escape import py_comment, py_str
from .layers.base import REQUIRED, axes_value
from .network import NotGeneric
from .symbolic import is_int, normalize, parse_expr, sympy

# attributes of nn.Module / nn.Sequential instances: a child module cannot take these names
NN_ATTRS = frozenset("""
T_destination _apply _backward_hooks _backward_pre_hooks _buffers _call_impl _compiled_call_impl _forward_hooks
_forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks _forward_pre_hooks_with_kwargs
_get_backward_hooks _get_backward_pre_hooks _get_item_by_idx _get_name _is_full_backward_hook
_load_from_state_dict _load_state_dict_post_hooks _load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook
_modules _named_members _non_persistent_buffers_set _parameters _register_load_state_dict_pre_hook
_register_state_dict_hook _replicate_for_data_parallel _save_to_state_dict _slow_forward _state_dict_hooks
_state_dict_pre_hooks _version _wrapped_call_impl add_module append apply bfloat16 buffers call_super_init children
compile cpu cuda double dump_patches eval extend extra_repr float forward get_buffer get_extra_state
get_parameter get_submodule half insert ipu load_state_dict modules mtia named_buffers named_children
named_modules named_parameters parameters pop register_backward_hook register_buffer register_forward_hook
register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module register_parameter
register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule
share_memory state_dict to to_empty train training type xpu zero_grad
""".split())  # noqa: SIM905

PER_AXIS = ("axes", "padding", "axes_or_auto")
RESERVED_VARS = {"x", "self", "torch", "nn", "OrderedDict", "model", "y"}


# ----------------------------------------------------------------------------- values as Python

def py(v, names: dict | None = None) -> str:
    """A constructor argument or dimension as Python source. ``names`` maps symbol names to the
    Python names a block class uses; a symbol outside it cannot be written (NotGeneric)."""
    v = normalize(v) if not isinstance(v, (bool, str, float, tuple, list, type(None))) else v
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v)
    if isinstance(v, str):
        return py_str(v)
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(py(i, names) for i in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, Fraction):
        raise NotGeneric(f"{v} is not an integer")
    return expr_code(v, names or {})


def _paren(text: str) -> str:
    return text if re.fullmatch(r"[\w.]+", text) else f"({text})"


def expr_code(e, names: dict) -> str:
    """A sympy expression as integer Python (floor division for exact and floored quotients)."""
    sp = sympy()
    e = normalize(e)
    if is_int(e):
        return str(e)
    if isinstance(e, Fraction):
        raise NotGeneric(f"{e} is not an integer")
    if e.is_Symbol:
        if e.name not in names:
            raise NotGeneric(f"{e.name} is not an argument of the block")
        return names[e.name]
    if isinstance(e, (sp.floor, sp.ceiling)):
        num, den = sp.fraction(sp.together(e.args[0]))
        q = f"{_paren(expr_code(num, names))} // {_paren(expr_code(den, names))}"
        if isinstance(e, sp.floor):
            return q
        return f"-(-{_paren(expr_code(num, names))} // {_paren(expr_code(den, names))})"
    if isinstance(e, sp.Mod):
        return f"{_paren(expr_code(e.args[0], names))} % {_paren(expr_code(e.args[1], names))}"
    if isinstance(e, (sp.Max, sp.Min)):
        return ("max(" if isinstance(e, sp.Max) else "min(") + ", ".join(expr_code(a, names) for a in e.args) + ")"
    if e.is_Add:
        floors = [t for t in e.args if isinstance(t, sp.floor)]
        const = [t for t in e.args if t.is_Integer]
        if len(floors) == 1 and len(floors) + len(const) == len(e.args):  # floor(a/b) - 1 is (a - b) // b
            num, den = sp.fraction(sp.together(floors[0].args[0] + sum(const)))
            return f"{_paren(expr_code(num, names))} // {_paren(expr_code(den, names))}"
        out = ""
        for t in e.as_ordered_terms():
            if t.could_extract_minus_sign():
                out += (" - " if out else "-") + _paren_sum(expr_code(-t, names))
            else:
                out += (" + " if out else "") + expr_code(t, names)
        return out
    if e.is_Mul or e.is_Pow:
        num, den = sp.fraction(e)
        if den != 1:
            return f"{_paren_sum(expr_code(num, names))} // {_paren(expr_code(den, names))}"
        if e.is_Pow:
            if e.exp.is_Integer and e.exp > 0:
                return f"{_paren(expr_code(e.base, names))} ** {e.exp}"
            raise NotGeneric(f"cannot write {e}")
        coeff, rest = e.as_coeff_Mul()
        factors = ([] if coeff == 1 else [str(normalize(coeff))]) + [
            _paren_sum(expr_code(f, names)) for f in sp.Mul.make_args(rest)]
        return " * ".join(factors)
    raise NotGeneric(f"cannot write {e} as Python")


def _paren_sum(text: str) -> str:
    return f"({text})" if (" + " in text or " - " in text or " // " in text or " % " in text) else text


_COMPARE = re.compile(r"\s*(==|!=|<=|>=|<|>)\s*")


def condition(text, values: dict, make_symbol, names: dict | None = None):
    """A ``when:`` condition (the grammar of :func:`netcalc.symbolic.parse_condition`) as a sympy
    boolean, ``true``/``false`` when no symbol is left, and with ``names`` also as Python text
    (the parts already decided left out, the rest in the spec's order)."""
    sp = sympy()
    if isinstance(text, bool):
        return (sp.true if text else sp.false), None
    text = str(text).strip()
    for word, join in ((" or ", sp.Or), (" and ", sp.And)):
        parts = re.split(rf"\s+{word.strip()}\s+", text)
        if len(parts) > 1:
            subs = [condition(t, values, make_symbol, names) for t in parts]
            expr = join(*(e for e, _ in subs))
            keep = [t for e, t in subs if e not in (sp.true, sp.false)]
            return expr, (None if names is None or expr in (sp.true, sp.false) else
                          word.join(f"({t})" if " or " in t or " and " in t else t for t in keep))
    if text.startswith("not "):
        e, t = condition(text[4:], values, make_symbol, names)
        return sp.Not(e), (None if t is None else f"not ({t})")
    a, op, b = _COMPARE.split(text)
    rel = {"==": sp.Eq, "!=": sp.Ne, "<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge}[op]
    lhs, rhs = parse_expr(a, values, make_symbol), parse_expr(b, values, make_symbol)
    expr = rel(lhs, rhs)
    if names is None or expr in (sp.true, sp.false):
        return expr, None
    return expr, f"{expr_code(lhs, names)} {op} {expr_code(rhs, names)}"


def shape_comment(shape) -> str:
    return "(" + ", ".join(str(normalize(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# ----------------------------------------------------------------------------- constructors

@dataclass
class Ctor:
    """A module constructor call: ``head(pos..., key=value...)``."""

    head: str
    pos: list = field(default_factory=list)
    kw: list = field(default_factory=list)  # (name, value, torch's default)
    pos_names: list = field(default_factory=list)  # the argument names of the first positional values

    def code(self, names: dict | None = None, positional: set | None = None) -> str:
        """The call as Python. ``positional``: only arguments of these names are written by
        position (widths, say), the rest as keywords, from the first other one on."""
        pos, kw = list(self.pos), [(k, v) for k, v, _ in self.kw]
        if positional is not None:
            cut = next((i for i, n in enumerate(self.pos_names) if n not in positional), len(self.pos_names))
            kw = list(zip(self.pos_names[cut:], pos[cut:])) + kw
            pos = pos[:cut]
        args = [py(v, names) for v in pos] + [f"{k}={py(v, names)}" for k, v in kw]
        return f"{self.head}(" + ", ".join(args) + ")"

    def at(self, subs: dict):
        """What this call builds at one call's values (keywords equal to the default left out),
        comparable with another Ctor's."""
        kw = ((k, canon(number(v, subs)), d) for k, v, d in self.kw)
        return (self.head, tuple(canon(number(v, subs)) for v in self.pos),
                tuple((k, v) for k, v, d in kw if d is REQUIRED_ARG or not _same(v, d)))


REQUIRED_ARG = object()  # a keyword argument without a default


def canon(v):
    """Per-axis pairs whose entries agree as one value (how the constructor is written)."""
    if isinstance(v, tuple):
        return v[0] if len(v) > 1 and len(set(v)) == 1 else v
    return v


def number(v, subs: dict):
    """``v`` with the symbols of ``subs`` put in (NotGeneric when one is left)."""
    if isinstance(v, tuple):
        return tuple(number(i, subs) for i in v)
    if v is None or isinstance(v, (bool, str, float, int)):
        return v
    v = normalize(v)
    if is_int(v):
        return v
    out = normalize(v.subs(subs)) if subs else v
    if not is_int(out):
        raise NotGeneric(f"{v} is not a number at a call")
    return out


def _same(v, default) -> bool:
    if isinstance(v, bool) or isinstance(default, bool):
        return type(v) is type(default) and v == default
    if isinstance(v, (int, float)) and isinstance(default, (int, float)):
        return v == default
    return canon(v) == canon(default) if type(v) is type(default) else False


def layer_ctor(layer, x) -> Ctor:
    """The ``torch.nn`` constructor call that builds ``layer`` for the incoming shape ``x``: the
    kind's own (:meth:`Layer.torch_ctor`), or ``nn.TYPE`` with input widths and required arguments
    positional (torch's order), then keywords for the values that differ from torch's defaults."""
    own = layer.torch_ctor(x)
    if own is not None:
        head, pos, kw, *names = own
        return Ctor(head, pos, kw, list(names[0]) if names else [])
    a, t = layer.args, layer.TYPE
    widths = type(layer).width_args()
    ctor = Ctor(f"nn.{t}")
    positional = True
    for arg in type(layer).ARGS:
        name = arg.name
        if arg.kind == "tensor":  # a second input, not a constructor argument
            continue
        v = a.get(name)
        if name in widths and v is None:
            v = layer.input_width(name, x)
        if arg.kind in PER_AXIS or (name == "output_size" and isinstance(v, tuple) and None not in v):
            v = axes_value(v)
        elif isinstance(v, tuple) and len(v) == 1 and name in ("normalized_shape", "size", "padding"):
            v = v[0]
        elif isinstance(v, list):
            v = tuple(v)
        if positional and (name in widths or arg.default is REQUIRED):
            ctor.pos.append(v)
            ctor.pos_names.append(name)
            continue
        positional = False
        if name in layer.DEFAULT_FROM and layer.entry.args.get(name) is None:
            continue  # torch's default is another argument's value (a pool's stride: its kernel size)
        default = arg.default
        if default is REQUIRED:
            ctor.kw.append((name, v, REQUIRED_ARG))
            continue
        if default is not None and arg.kind in PER_AXIS:
            default = axes_value(layer._expand(arg, default))
        if (v is None and default is None) or _same(v, default):
            continue
        ctor.kw.append((name, v, default))
    return ctor


# ----------------------------------------------------------------------------- names

def note(comment: str) -> str:
    """A trailing shape comment (paths in it are user text)."""
    return f"  # {py_comment(comment)}" if comment else ""


def attr_name(comp: str) -> str:
    """A torch module name for one part of a netcalc path (never an nn.Module attribute: a
    dunder such as ``__init__`` loses its closing underscores)."""
    comp = comp or "_"
    if comp.startswith("__") and comp.endswith("__") and len(comp) > 4:
        comp = comp.rstrip("_") + "_"
    while comp in NN_ATTRS:
        comp += "_"
    return comp


def plain_attr(comp: str) -> bool:
    """``self.comp`` reaches the module: an identifier, not a keyword, and not ``__x`` (which
    Python would mangle to ``_Class__x`` inside the class body)."""
    return comp.isidentifier() and not keyword.iskeyword(comp) and not comp.startswith("__")


def attr(base: str, comp: str) -> str:
    if plain_attr(comp):
        return f"{base}.{comp}"
    return f"getattr({base}, {py(comp)})"


def assign(base: str, comp: str, value: str) -> str:
    if plain_attr(comp):
        return f"{base}.{comp} = {value}"
    return f"{base}.add_module({py(comp)}, {value})"


def var_name(name: str) -> str:
    v = re.sub(r"\W", "_", str(name), flags=re.ASCII)
    if not v or v[0].isdigit():
        v = "_" + v
    while keyword.iskeyword(v) or v in RESERVED_VARS or re.fullmatch(r"(out|identity|gate|b\d+)\d*", v):
        v += "_"
    return v


def param_name(p: str, params) -> str:
    """The Python name of a block argument in its class's ``__init__``."""
    v = re.sub(r"\W", "_", str(p), flags=re.ASCII)
    if not v or v[0].isdigit():
        v = "_" + v
    while keyword.iskeyword(v) or v in ("self", "nn", "torch") or (v != p and v in params):
        v += "_"
    return v


def strip_comments(text: str) -> str:
    return re.sub(r"  # .*$", "", text, flags=re.MULTILINE)
