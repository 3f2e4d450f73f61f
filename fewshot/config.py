"""Typed command configuration: one dataclass per command is the single source of its defaults.

Design (issue 13): every command declares a plain ``dataclass`` that extends
:class:`CommonOptions`; each field's default is *the* default, its ``metadata`` (written with
:func:`option`) holds the help text, valid choices, the flag group and whether it changes
results. This module derives everything else from the class:

- the ``argparse`` parser (:func:`config_parser`): one ``--flag`` per field, types from the
  annotations, valid values listed in ``--help`` (choices may be a callable, evaluated only when
  the help is shown or a value is checked, so a registry is not imported to parse flags);
- ``--config file.yaml`` (values from a YAML mapping; unknown keys are an error naming them);
  precedence is dataclass default < YAML < explicit flag;
- the resolved configuration: the command's ``resolve()`` fills in derived defaults (a run
  name from the metric, the metrics that ``all`` stands for, ...) and checks cross-field rules;
- ``--print-config``: the *resolved* configuration as YAML; fed back with ``--config`` it
  resolves to the same configuration (tested), and it is what a run folder saves
  (:func:`save_config`);
- resume checks: :func:`config_difference` lists the fields that differ from a saved
  configuration, ignoring fields declared ``affects_results=False`` (device, threads, ...)
  and paths (:func:`result_fields`); :mod:`fewshot.run_folder` builds the run-folder
  contract (file names, resume-or-refuse, old keys) on these.

Every command shares the vocabulary of :class:`CommonOptions`: ``--device`` (cpu, cuda,
cuda:N, auto), ``--threads``, ``--no-progress``, ``--data-option KEY=VALUE`` (repeatable),
``-v/--verbose``, plus the meta flags ``--config`` and ``--print-config``.

How a command declares and uses its configuration::

    from dataclasses import dataclass
    from pathlib import Path

    from fewshot.cli import run_main
    from fewshot.config import CommonOptions, apply_common, option, parse_config, save_config
    from fewshot.errors import UsageError

    @dataclass(kw_only=True)
    class SearchConfig(CommonOptions):
        \"\"\"Search inside the leaves of a split tree.\"\"\"  # first line: --help description

        run_dir: Path | None = option(None, positional=True, help="run folder with tree.json")
        metric: str = option("snip", help="metric", choices=lambda: list_metrics())
        k: int = option(100, help="archs per leaf", minimum=1, group="search")
        name: str | None = option(None, help="output name (default: search-<metric>)")

        def resolve(self) -> "SearchConfig":
            if self.run_dir is None:
                raise UsageError("give the run folder (see --help)")
            self.name = self.name or f"search-{self.metric}"
            return self

    def _main(argv):
        cfg = parse_config(SearchConfig, argv, prog="python -m fewshot.search")
        apply_common(cfg)                      # logging, torch threads
        saved = load_saved_config(folder / "config.yaml")   # on resume:
        refuse_changed(saved, cfg, where=folder, hint="use --force to start over")
        save_config(folder, cfg)
        ...

    def main(argv=None):
        return run_main(_main, argv)

Supported field types: ``int``, ``float``, ``str``, ``bool`` (``--flag`` sets it true; a field
that defaults to true gets ``--no-flag`` instead),
``pathlib.Path``, ``typing.Literal[...]`` (its values are the choices), ``list[int|float|str|
Path]`` (a comma list such as ``0,1,2``; ``repeat=True`` for a repeatable flag instead;
``positional=True`` for positional arguments), ``dict[str, Any]`` (repeatable ``KEY=VALUE``,
values parsed as YAML scalars) and ``X | None`` of any of these (``None``: "not set, resolve
decides"). Fields are keyword-only (``@dataclass(kw_only=True)``) so a subclass can add fields
without defaults after the common ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from fewshot.errors import UsageError
from fewshot.io import atomic_write_text

C = TypeVar("C", bound="CommonOptions")

Choices = Iterable[Any] | Callable[[], Iterable[Any]]

_MISSING = dataclasses.MISSING
META_KEYS = ("config", "print_config")
"""Flags that steer parsing itself and are never part of a configuration."""


# -- declaring fields -------------------------------------------------------------------------


def option(
    default: Any = _MISSING,
    *,
    help: str,
    default_factory: Callable[[], Any] | Any = _MISSING,
    choices: Choices | None = None,
    minimum: float | None = None,
    group: str | None = None,
    flags: Sequence[str] = (),
    aliases: Sequence[str] = (),
    positional: bool = False,
    repeat: bool = False,
    metavar: str | None = None,
    pattern: str | None = None,
    affects_results: bool = True,
) -> Any:
    """A dataclass field with its command-line metadata.

    ``choices``: the valid values (or a callable returning them, evaluated lazily; for a list
    field each element must be one). ``minimum``: smallest valid number. ``group``: the
    ``--help`` section. ``flags``: option strings replacing the default ``--field-name``.
    ``aliases``: extra (deprecated) option strings; their underscore forms are also accepted as
    YAML keys. ``positional``: a positional argument (may also come from YAML). ``repeat``: a
    list field given by repeating the flag instead of a comma list. ``pattern``: a regular
    expression a string value must match in full. ``affects_results``: False for fields a
    resumed run may change (device, threads, progress, ...).
    """
    metadata = {
        "help": help,
        "choices": choices,
        "minimum": minimum,
        "group": group,
        "flags": tuple(flags),
        "aliases": tuple(aliases),
        "positional": positional,
        "repeat": repeat,
        "metavar": metavar,
        "pattern": pattern,
        "affects_results": affects_results,
    }
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda: _copy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _copy(value: Any) -> Any:
    return type(value)(value)


DEVICE_HELP = "cpu, cuda, cuda:N (GPU number N) or auto (CUDA when available, else CPU)"
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"


@dataclasses.dataclass(kw_only=True)
class CommonOptions:
    """Options every command shares (the project's one command vocabulary)."""

    device: str = option(
        "auto", help=DEVICE_HELP, pattern=DEVICE_PATTERN, group="common", metavar="DEVICE",
        affects_results=False,
    )  # fmt: skip
    threads: int | None = option(
        None,
        help="torch CPU threads (default: torch's, one per core; 1 is fastest on a busy machine; "
        "training records the count in effect and refuses to resume a supernet under another, "
        "since it changes results: the ranking study used 1)",
        minimum=1,
        group="common",
        affects_results=False,
    )
    no_progress: bool = option(
        False,
        help="no progress bars (--no-progress-bar: deprecated alias)",
        aliases=("--no-progress-bar",),
        group="common",
        affects_results=False,
    )
    data_option: dict[str, Any] = option(
        default_factory=dict,
        help="data-set specific option, e.g. image_size=16 (repeatable; --dataset-option: "
        "deprecated alias)",
        aliases=("--dataset-option",),
        group="common",
        metavar="KEY=VALUE",
    )
    verbose: bool = option(
        False, help="debug logging", flags=("-v", "--verbose"), group="common",
        affects_results=False,
    )  # fmt: skip

    def resolve(self: C) -> C:
        """Fill in derived defaults and check cross-field rules; commands override this.

        Must be idempotent: resolving a resolved configuration changes nothing (so that
        ``--print-config`` output fed back through ``--config`` gives the same result).
        """
        return self


IMAGE_SIZE_KEY = "image_size"
"""The data option that ``--image-size`` sets (:class:`ImageOptions`)."""


@dataclasses.dataclass(kw_only=True)
class ImageOptions:
    """``--image-size``, for the commands that train or score on images (a mixin beside
    :class:`CommonOptions`): a first-class flag for the data option ``image_size``.

    :func:`make_config` merges the two (:func:`merge_image_size`): either sets both fields, and
    both given with different values is a :class:`UsageError`. So the saved configuration records
    the size in ``image_size`` and in ``data_option``, and every consumer of ``data_option``
    (the data modules, Ray workers, scoring specs) sees it. The size changes results through
    ``data_option`` (compared on resume); the field itself is not compared again, so
    configurations saved before it existed still resume and pool.
    """

    image_size: int | None = option(
        None, help="side of the images trained and scored on, in pixels (default: the data "
        "set's own; the same as --data-option image_size=N)", minimum=4, group="common",
        metavar="PIXELS", affects_results=False,
    )  # fmt: skip


def merge_image_size(config: Any) -> None:
    """Make ``config.image_size`` and ``config.data_option["image_size"]`` agree (see
    :class:`ImageOptions`); a no-op for configurations without ``--image-size``."""
    if not isinstance(config, ImageOptions):
        return
    options = getattr(config, "data_option", None) or {}
    given = options.get(IMAGE_SIZE_KEY)
    if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 4):
        raise UsageError(f"--data-option image_size must be an integer >= 4, got {given!r}")
    flag = config.image_size
    if flag is not None and given is not None and flag != given:
        raise UsageError(
            f"--image-size {flag} and --data-option image_size={given} disagree; give one of them"
        )
    size = flag if flag is not None else given
    if size is not None:
        config.image_size = size
        config.data_option = {**options, IMAGE_SIZE_KEY: size}  # type: ignore[attr-defined]


# -- field introspection ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What the parser needs to know about one field."""

    field: dataclasses.Field
    kind: str  # bool, scalar, list, dict
    base: Any  # element type (int, str, Path, a Literal, ...)
    optional: bool

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.field.metadata

    def flag(self) -> str:
        """How messages name the field: its flag, or its name for a positional argument."""
        if self.meta.get("positional"):
            return self.name.upper()
        return self.meta.get("flags", ())[-1] if self.meta.get("flags") else _flag(self.name)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _specs(cls: type) -> list[_Spec]:
    hints = typing.get_type_hints(cls)
    return [_spec(f, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


def _spec(f: dataclasses.Field, hint: Any) -> _Spec:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    optional = False
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"field {f.name}: unsupported type {hint}")
        optional, hint = True, rest[0]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return _Spec(f, "bool", bool, optional)
    if origin is list:
        return _Spec(f, "list", args[0] if args else str, optional)
    if origin is dict or hint is dict:
        return _Spec(f, "dict", Any, optional)
    if hint in (int, float, str, Path) or origin is typing.Literal:
        return _Spec(f, "scalar", hint, optional)
    raise TypeError(f"field {f.name}: unsupported type {hint}")


def choices_of(spec_or_field: Any) -> list[Any] | None:
    """The valid values of a field (a callable is evaluated now), or None if unrestricted."""
    spec = spec_or_field
    if isinstance(spec, _Spec) and typing.get_origin(spec.base) is typing.Literal:
        return list(typing.get_args(spec.base))
    meta = spec.meta if isinstance(spec, _Spec) else spec.metadata
    choices = meta.get("choices")
    if choices is None:
        return None
    return list(choices() if callable(choices) else choices)


# -- converting values (from the command line or YAML) ----------------------------------------


def _scalar(value: Any, base: Any, what: str) -> Any:
    """``value`` (a string from the command line, or a YAML value) as ``base``."""
    try:
        if base is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                return value.lower() in ("true", "yes")
            if isinstance(value, bool):
                return value
            raise ValueError
        if base is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base is Path:
            return Path(str(value))
        if isinstance(value, list | dict):
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        name = getattr(base, "__name__", str(base))
        raise UsageError(f"{what}: expected {name}, got {value!r}") from None


def _key_value(item: Any, what: str) -> dict[str, Any]:
    key, sep, value = str(item).partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{what} {item!r}: expected KEY=VALUE")
    return {key.strip(): yaml.safe_load(value)}


def convert(spec: _Spec, value: Any, what: str) -> Any:
    """A command-line string or YAML value as the field's type (``UsageError`` if it is not)."""
    if value is None or (spec.optional and isinstance(value, str) and value in ("null", "None")):
        if spec.optional or spec.kind == "dict":
            return None if spec.kind != "dict" else {}
        raise UsageError(f"{what}: a value is required, got null")
    if spec.kind == "bool":
        return _scalar(value, bool, what)
    if spec.kind == "dict":
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items()}
        items = value if isinstance(value, list) else [value]
        out: dict[str, Any] = {}
        for item in items:
            out.update(item if isinstance(item, Mapping) else _key_value(item, what))
        return out
    base = str if typing.get_origin(spec.base) is typing.Literal else spec.base
    if spec.kind == "list":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif not isinstance(value, list | tuple):
            value = [value]
        return [_scalar(v, base, what) for v in value]
    return _scalar(value, base, what)


def check_values(config: CommonOptions) -> None:
    """Check every set value against its field's ``choices`` and ``minimum``."""
    for spec in _specs(type(config)):
        value = getattr(config, spec.name)
        if value is None or spec.kind in ("bool", "dict"):
            continue
        values = value if spec.kind == "list" else [value]
        pattern = spec.meta.get("pattern")
        if pattern is not None:
            bad = [v for v in values if not re.fullmatch(pattern, str(v))]
            if bad:
                raise UsageError(f"{spec.flag()} {bad[0]!r}: expected {spec.meta.get('help')}")
        minimum = spec.meta.get("minimum")
        if minimum is not None:
            low = [v for v in values if v < minimum]
            if low:
                raise UsageError(f"{spec.flag()} must be >= {minimum:g}, got {low[0]}")
        choices = choices_of(spec)
        if choices is not None:
            bad = [v for v in values if v not in choices]
            if bad:
                raise UsageError(
                    f"{spec.flag()} {bad[0]!r} is not valid; choose from: "
                    + ", ".join(map(str, choices))
                )


# -- the parser ---------------------------------------------------------------------------------


class _LazyChoicesFormatter(argparse.HelpFormatter):
    """Appends ``(choices: ...)`` and ``(default: ...)`` when ``--help`` is shown."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        spec: _Spec | None = getattr(action, "fewshot_spec", None)
        if spec is None or text == argparse.SUPPRESS:
            return text
        extra = []
        try:
            choices = choices_of(spec)
        except Exception as exc:  # a broken registry must not break --help
            choices = [f"<unavailable: {exc}>"]
        if choices is not None:
            extra.append("choices: " + ", ".join(map(str, choices)))
        default = _default(spec.field)
        if default not in (None, False, [], {}, _MISSING):
            extra.append(f"default: {_yaml_value(default)}")
        text = text.replace("%", "%%")
        return f"{text} ({'; '.join(extra)})" if extra else text


def _default(f: dataclasses.Field) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return _MISSING


def _arg_type(spec: _Spec) -> Callable[[str], Any]:
    what = spec.flag()

    def parse(text: str) -> Any:
        if text is argparse.SUPPRESS:  # an absent optional positional
            return text
        try:
            if spec.kind == "list" and spec.meta.get("repeat"):
                return _scalar(text, spec.base, what)
            if spec.kind == "dict":
                return _key_value(text, what)
            return convert(spec, text, what)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = getattr(spec.base, "__name__", "value")
    return parse


def config_parser(cls: type[CommonOptions], prog: str | None = None) -> argparse.ArgumentParser:
    """An ``argparse`` parser for ``cls``: every field a flag whose default is *absent*
    (``argparse.SUPPRESS``), so that only flags given explicitly override YAML and defaults."""
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=_LazyChoicesFormatter,
        argument_default=argparse.SUPPRESS,
    )  # fmt: skip
    groups: dict[str | None, Any] = {None: parser}
    specs = _specs(cls)  # the command's own flags first in --help, the shared ones after
    for spec in sorted(specs, key=lambda s: s.meta.get("group") == "common"):
        group = spec.meta.get("group")
        if group not in groups:
            groups[group] = parser.add_argument_group(group)
        _add_argument(groups[group], spec)
    meta = parser.add_argument_group("configuration")
    meta.add_argument("--config", type=Path, help="YAML file of values for these flags")
    meta.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved configuration as YAML (usable with --config) and exit",
    )
    return parser


def _add_argument(group: Any, spec: _Spec) -> None:
    meta = spec.meta
    kwargs: dict[str, Any] = {"help": meta.get("help"), "dest": spec.name}
    if meta.get("metavar"):
        kwargs["metavar"] = meta["metavar"]
    if meta.get("positional"):
        kwargs["nargs"] = "*" if spec.kind == "list" else "?"
        kwargs["type"] = _arg_type(spec) if spec.kind != "list" else _element_type(spec)
        kwargs["metavar"] = kwargs.get("metavar") or spec.name.upper()
        del kwargs["dest"]
        action = group.add_argument(spec.name, **kwargs)
    else:
        names = [*(meta.get("flags") or (_flag(spec.name),)), *meta.get("aliases", ())]
        if spec.kind == "bool" and spec.field.default is True:  # a flag that turns it off
            names = [*(meta.get("flags") or ("--no-" + spec.name.replace("_", "-"),))]
            names += list(meta.get("aliases", ()))
            kwargs["action"] = "store_false"
        elif spec.kind == "bool":
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = _arg_type(spec)
            if spec.kind == "dict" or (spec.kind == "list" and meta.get("repeat")):
                kwargs["action"] = "append"
        action = group.add_argument(*names, **kwargs)
    action.fewshot_spec = spec  # for the help formatter


def _element_type(spec: _Spec) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if text is argparse.SUPPRESS:
            return text
        try:
            return _scalar(text, spec.base, spec.name)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


build_parser = config_parser
"""Alias of :func:`config_parser`."""


# -- YAML ---------------------------------------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path`` (keys may use dashes or underscores)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a mapping of key: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def _key_names(cls: type) -> dict[str, str]:
    """YAML key -> field name: field names and the underscore forms of alias flags."""
    names = {}
    for spec in _specs(cls):
        names[spec.name] = spec.name
        for flag in (*spec.meta.get("flags", ()), *spec.meta.get("aliases", ())):
            if flag.startswith("--"):
                names[flag[2:].replace("-", "_")] = spec.name
    return names


def values_from_mapping(
    cls: type[CommonOptions], data: Mapping[str, Any], source: str = "configuration"
) -> dict[str, Any]:
    """Field values (converted to the fields' types) from a YAML-style mapping.

    Unknown keys raise :class:`UsageError` naming them and the valid keys.
    """
    names = _key_names(cls)
    unknown = sorted(k for k in data if k.replace("-", "_") not in names)
    if unknown:
        close = {k: difflib.get_close_matches(k.replace("-", "_"), names, n=1) for k in unknown}
        hints = [f"{k!r} -> {m[0]!r}" for k, m in close.items() if m]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise UsageError(
            f"{source} has unknown keys {unknown}{hint}; valid keys: "
            + ", ".join(sorted(set(names)))
        )
    specs = {s.name: s for s in _specs(cls)}
    out = {}
    for key, value in data.items():
        name = names[key.replace("-", "_")]
        out[name] = convert(specs[name], value, f"{source}: {key}")
    return out


def _yaml_value(value: Any) -> Any:
    """Plain YAML types: paths as strings, tuples as lists, nested containers converted."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_yaml_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _yaml_value(v) for k, v in value.items()}
    return value


def to_dict(config: CommonOptions) -> dict[str, Any]:
    """The configuration as a plain, YAML-friendly dict, in field order."""
    return {
        f.name: _yaml_value(getattr(config, f.name)) for f in dataclasses.fields(config) if f.init
    }


def dump_yaml(config: CommonOptions | Mapping[str, Any]) -> str:
    data = config if isinstance(config, Mapping) else to_dict(config)
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, width=100)


def save_config(
    run_dir: Path, config: CommonOptions | Mapping[str, Any], name: str = "config.yaml"
) -> Path:
    """Write the resolved configuration into the run folder (atomically)."""
    return atomic_write_text(Path(run_dir) / name, dump_yaml(config))


def load_saved_config(path: Path) -> dict[str, Any] | None:
    """A configuration saved by :func:`save_config`, or None when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    return load_yaml(path)


# -- parsing ------------------------------------------------------------------------------------


def parse_config(
    cls: type[C],
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
    resolve: bool = True,
) -> C:
    """Parse ``argv`` into a resolved ``cls``: defaults < ``--config`` YAML < explicit flags.

    With ``--print-config`` the resolved configuration is printed as YAML and the process
    exits 0 (like ``--help``).
    """
    values, show = _argv_values(cls, sys.argv[1:] if argv is None else argv, prog)
    config = make_config(cls, values, resolve=resolve)
    if show:
        print(dump_yaml(config), end="")
        raise SystemExit(0)
    return config


def flag_values(cls: type[CommonOptions], argv: Sequence[str]) -> dict[str, Any]:
    """The field values that the command-line flags ``argv`` set (``--config`` YAML first, then
    the explicit flags), unresolved: for a library caller that takes extra flags of a command
    as one string (e.g. ``--split-args``) and builds the configuration itself."""
    return _argv_values(cls, argv, None)[0]


def _argv_values(
    cls: type[CommonOptions], argv: Sequence[str], prog: str | None
) -> tuple[dict[str, Any], bool]:
    """(values from ``--config`` YAML updated by the explicit flags, ``--print-config`` given)."""
    args = vars(config_parser(cls, prog).parse_args(list(argv)))
    config_file, show = args.pop("config", None), args.pop("print_config", False)
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(
            values_from_mapping(cls, load_yaml(config_file), f"config file {config_file}")
        )
    values.update(_merge_flags(cls, args))
    return values, show


def _merge_flags(cls: type, args: dict[str, Any]) -> dict[str, Any]:
    """Namespace values as field values (repeated ``KEY=VALUE`` flags merged into a dict)."""
    specs = {s.name: s for s in _specs(cls)}
    out = {}
    for name, value in args.items():
        if specs[name].kind == "dict":
            merged: dict[str, Any] = {}
            for item in value:
                merged.update(item)
            value = merged
        out[name] = value
    return out


def make_config(
    cls: type[C], values: Mapping[str, Any] | None = None, *, resolve: bool = True
) -> C:
    """``cls(**values)``, values checked, then resolved (unless ``resolve=False``)."""
    try:
        config = cls(**dict(values or {}))
    except TypeError as exc:  # a required field without a value
        raise UsageError(f"{cls.__name__}: {exc}") from None
    check_values(config)
    merge_image_size(config)
    if resolve:
        config = config.resolve()
        check_values(config)
    return config


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, resolve: bool = True) -> C:
    """A configuration from a saved/YAML mapping (e.g. a run folder's ``config.yaml``)."""
    return make_config(cls, values_from_mapping(cls, data), resolve=resolve)


# -- resume checks --------------------------------------------------------------------------------


def result_fields(cls: type) -> list[str]:
    """Names of the fields that change results (compared when a run is resumed).

    Derived from the dataclass: every field but those declared ``affects_results=False``
    (device, threads, progress, executor, ...) and those that hold a path (``Path``,
    ``Path | None``, ``list[Path]``: run folders, tree files, output and data folders), since
    a folder moved to another disk or mounted elsewhere must resume (issue 23).
    """
    paths = set(path_fields(cls))
    return [
        s.name for s in _specs(cls) if s.meta.get("affects_results", True) and s.name not in paths
    ]


def path_fields(cls: type) -> list[str]:
    """Names of the fields that hold a path (``Path``, ``Path | None`` or ``list[Path]``)."""
    return [s.name for s in _specs(cls) if s.base is Path]


def config_difference(
    old: Mapping[str, Any], new: CommonOptions, *, ignore: Iterable[str] = ()
) -> list[str]:
    """``key: old -> new`` for every result-changing field that differs.

    A key missing from ``old`` (saved before the field existed) counts as its default.
    """
    cls, current, skip = type(new), to_dict(new), set(ignore)
    defaults = {f.name: _default(f) for f in dataclasses.fields(cls)}
    diff = []
    for name in result_fields(cls):
        if name in skip:
            continue
        before = old.get(name, _yaml_value(defaults[name]))
        if before != current[name]:
            diff.append(f"{name}: {before!r} -> {current[name]!r}")
    return diff


def refuse_changed(
    old: Mapping[str, Any] | None,
    new: CommonOptions,
    *,
    where: Path | str,
    hint: str = "use the original flags, or --force to start over",
    ignore: Iterable[str] = (),
) -> None:
    """Raise :class:`UsageError` naming the differences when ``new`` differs from ``old``."""
    if old is None:
        return
    diff = config_difference(old, new, ignore=ignore)
    if diff:
        raise UsageError(
            f"cannot resume {where} with a different configuration: {'; '.join(diff)} ({hint})"
        )


# -- applying the common options --------------------------------------------------------------------


def apply_common(config: CommonOptions) -> None:
    """Logging level and torch CPU threads from the common options."""
    from fewshot.cli import setup_logging

    setup_logging(config.verbose)
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)


def resolve_device(device: str) -> Any:
    """``auto`` (CUDA when available, else CPU) or a named ``torch.device`` that must exist."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"--device {device!r} is not a device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available here; use --device cpu")
    return dev


def lightning_hardware(device: str) -> tuple[str, str]:
    """``--device`` as Lightning's ``(accelerator, devices)``: ``cuda:1`` -> ``("gpu", "[1]")``
    (a list of GPU ids; a bare ``"1"`` would mean *one* GPU, whichever)."""
    if device == "auto":
        return "auto", "auto"
    if device == "cpu":
        return "cpu", "auto"
    if device == "mps":
        return "mps", "auto"
    if device == "cuda":
        return "gpu", "auto"
    return "gpu", f"[{int(device.split(':', 1)[1])}]"


__all__ = [
    "CommonOptions",
    "ImageOptions",
    "apply_common",
    "build_parser",
    "check_values",
    "config_parser",
    "choices_of",
    "config_difference",
    "config_from_dict",
    "dump_yaml",
    "flag_values",
    "lightning_hardware",
    "load_saved_config",
    "load_yaml",
    "make_config",
    "merge_image_size",
    "option",
    "parse_config",
    "path_fields",
    "refuse_changed",
    "resolve_device",
    "result_fields",
    "save_config",
    "to_dict",
    "values_from_mapping",
]
