"""scripts/check_structure.py, which scripts/test runs, finds what it is for: a class name defined
twice, a long route module, state in api/, a long function without its reason."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_structure", ROOT / "scripts" / "check_structure.py")
assert _spec is not None
assert _spec.loader is not None
check = importlib.util.module_from_spec(_spec)
sys.modules["check_structure"] = check
_spec.loader.exec_module(check)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in check.PACKAGES:
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
    (tmp_path / "api" / "routes").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_repository_passes_its_own_structure_check() -> None:
    assert check.main(ROOT) == 0


def test_a_class_name_defined_twice_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, {"storage/a.py": "class Node:\n    pass\n", "ingest/b.py": "class Node:\n    pass\n"}
    )
    assert check.duplicate_classes(root) == {"Node": ["storage/a.py", "ingest/b.py"]}
    assert check.main(root) == 1


def test_state_in_an_api_module_is_found(tmp_path: Path) -> None:
    source = (
        "import functools\n_CACHE = {}\n\n\ndef put(k, v):\n    _CACHE[k] = v\n\n\n"
        "@functools.cache\ndef pool():\n    return 1\n"
    )
    root = _tree(tmp_path, {"api/routes/x.py": source})
    found = check.module_state_in_api(root)
    assert any("changes _CACHE" in f for f in found)
    assert any("pool is cached" in f for f in found)


def test_a_long_route_module_and_a_long_function_without_a_reason_are_found(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(85))
    root = _tree(
        tmp_path,
        {
            "api/routes/big.py": "\n" * 260,
            "services/long.py": f"def long():\n{body}",
            "services/why.py": f"def why():\n    # Long: a table of values.\n{body}",
        },
    )
    assert "api/routes/big.py" in check.long_routes(root)
    reasons = {where.split(":")[0]: reason for where, _n, reason in check.long_functions(root)}
    assert reasons == {"services/long.py": None, "services/why.py": "a table of values."}
