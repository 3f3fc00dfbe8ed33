"""Read the knowledge data files into one immutable KnowledgeBase.

Loading never half-succeeds: either every file parses into the schema and passes
validation, or a KnowledgeError lists each problem with its file and key.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from pydantic import ValidationError

from .schema import LifecycleMatter, Material, Region, Scenario, Source

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


class KnowledgeError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml parses ten times faster
    """SafeLoader that rejects duplicate keys and reads yes/no/on/off as strings."""


# YAML 1.1 turns yes/no/on/off into booleans; option values like `yes` must stay strings.
_StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"重复的键 {key!r}（第 {seen[key]} 行与第 {key_node.start_mark.line + 1} 行）",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_StrictLoader)


@dataclass(frozen=True)
class KnowledgeBase:
    regions: dict[str, Region]
    sources: dict[str, Source]
    materials: dict[str, Material]
    scenarios: dict[str, Scenario]
    matters: dict[str, LifecycleMatter]
    catalogue: dict
    version: str
    origin: dict[str, str] = field(default_factory=dict)  # "kind:id" -> file it came from

    def region_chain(self, region: str) -> list[str]:
        """The region and its ancestors, most specific first (dongying, shandong, national)."""
        chain, current = [], region
        while current is not None:
            chain.append(current)
            current = self.regions[current].parent
        return chain

    def scenarios_of(self, region: str) -> list[Scenario]:
        """Scenarios the region itself publishes (never inherited), in catalogue order."""
        order = list(self.catalogue.get("scenarios", {}))
        found = [s for s in self.scenarios.values() if region in s.regions]
        return sorted(found, key=lambda s: order.index(s.id) if s.id in order else len(order))

    def publishers(self, scenario_id: str) -> list[str]:
        return list(self.scenarios[scenario_id].regions)

    def material(self, material_id: str) -> Material:
        return self.materials[material_id]


def content_hash(data_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(data_dir.rglob("*.yaml")):
        digest.update(path.relative_to(data_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _schema_problems(file: str, prefix: str, err: ValidationError) -> Iterable[Problem]:
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        yield Problem(file, f"{prefix}.{loc}" if loc else prefix, e["msg"])


def _mapping(raw: Any, file: str, key: str, problems: list[Problem]) -> dict:
    value = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(value, dict):
        problems.append(Problem(file, key, "缺少此键或它不是映射"))
        return {}
    return value


def load(
    data_dir: Optional[Path] = None, *, validate: bool = True, only: Optional[set[str]] = None
) -> KnowledgeBase:
    """Load and validate; `only` restricts scenarios to these ids (for authoring one file)."""
    data_dir = Path(data_dir or DATA_DIR)
    problems: list[Problem] = []
    origin: dict[str, str] = {}

    def rel(path: Path) -> str:
        return path.relative_to(data_dir).as_posix()

    def parse(path: Path) -> Any:
        try:
            return read_yaml(path)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(Problem(rel(path), "-", f"YAML 无法解析: {exc}"))
            return None

    def put(target: dict, kind: str, key: str, value: Any, file: str) -> None:
        if key in target:
            problems.append(Problem(file, key, f"重复的{kind} id，已在 {origin[f'{kind}:{key}']} 定义"))
            return
        target[key] = value
        origin[f"{kind}:{key}"] = file

    def build(model, raw: Any, file: str, prefix: str):
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_schema_problems(file, prefix, exc))
            return None

    regions: dict[str, Region] = {}
    sources: dict[str, Source] = {}
    materials: dict[str, Material] = {}
    scenarios: dict[str, Scenario] = {}
    matters: dict[str, LifecycleMatter] = {}

    for name, kind, model, target in (
        ("regions.yaml", "region", Region, regions),
        ("sources.yaml", "source", Source, sources),
        ("materials.yaml", "material", Material, materials),
    ):
        raw = parse(data_dir / name) if (data_dir / name).exists() else None
        if raw is None:
            problems.append(Problem(name, "-", "文件缺失或为空"))
            continue
        for key, value in _mapping(raw, name, name.split(".")[0], problems).items():
            obj = build(model, value, name, f"{name.split('.')[0]}.{key}")
            if obj is not None:
                put(target, kind, str(key), obj, name)

    for path in sorted((data_dir / "scenarios").glob("*.yaml")):
        if only is not None and path.stem not in only:
            continue
        raw = parse(path)
        if raw is None:
            continue
        scenario = build(Scenario, raw, rel(path), "scenario")
        if scenario is None:
            continue
        if scenario.id != path.stem:
            problems.append(Problem(rel(path), "id", f"id {scenario.id!r} 与文件名 {path.stem!r} 不一致"))
        put(scenarios, "scenario", scenario.id, scenario, rel(path))
        for key, src in scenario.sources.items():
            put(sources, "source", key, src, rel(path))
        for key, mat in scenario.materials.items():
            put(materials, "material", key, mat, rel(path))

    for path in sorted((data_dir / "matters").glob("*.yaml")):
        raw = parse(path)
        if raw is None:
            continue
        for key, value in _mapping(raw, rel(path), "matters", problems).items():
            obj = build(LifecycleMatter, value, rel(path), f"matters.{key}")
            if obj is not None:
                put(matters, "matter", str(key), obj, rel(path))

    catalogue_path = data_dir / "catalogue.yaml"
    catalogue = parse(catalogue_path) if catalogue_path.exists() else None
    if not isinstance(catalogue, dict):
        problems.append(Problem("catalogue.yaml", "-", "目录文件缺失或无法解析"))
        catalogue = {"regions": {}, "scenarios": {}}
    if only is not None:
        catalogue = {**catalogue, "scenarios": {k: v for k, v in catalogue.get("scenarios", {}).items() if k in only}}

    kb = KnowledgeBase(
        regions=regions, sources=sources, materials=materials, scenarios=scenarios,
        matters=matters, catalogue=catalogue, version=content_hash(data_dir)[:12], origin=origin,
    )
    if validate and not problems:
        from .validate import validate as run_validation

        problems.extend(run_validation(kb))
    if problems:
        raise KnowledgeError(problems)
    return kb


def replace_cache_file(path: Path, write, stale_pattern: str) -> None:
    """Write a cache file atomically (`write(tmp_path)`, then rename), and remove the older
    versions matching `stale_pattern` beside it: a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)
    for stale in path.parent.glob(stale_pattern):
        if stale != path:
            stale.unlink(missing_ok=True)


def pickle_writer(obj):
    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return write


def load_cached(cache_dir: Path, data_dir: Optional[Path] = None) -> KnowledgeBase:
    """load(), reusing a pickle of the validated knowledge when the content hash matches.

    Validation runs once per content version; later starts skip it (the hash covers every
    data file, so an edited file is always loaded and validated afresh).
    """
    data_dir = Path(data_dir or DATA_DIR)
    path = Path(cache_dir) / f"knowledge-{content_hash(data_dir)[:12]}.pickle"
    try:
        with path.open("rb") as fh:
            kb = pickle.load(fh)
        if isinstance(kb, KnowledgeBase):
            return kb
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass
    kb = load(data_dir)
    replace_cache_file(path, pickle_writer(kb), "knowledge-*.pickle")
    return kb
