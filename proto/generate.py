"""Generate Python protobuf/gRPC classes at setup time; nothing generated is committed.

Two sources:

* CometBFT's ABCI 2.0 protos (``tendermint/abci/types.proto`` and what it imports),
  read from the pinned ``github.com/cometbft/cometbft`` module in the Go module cache,
  with ``gogoproto/gogo.proto`` from the ``github.com/cosmos/gogoproto`` module.
* Our own protos under ``proto/race/v1/``.

Everything goes to one tree, ``race_protocol/gen/``, so the chain, the node software and
the sidecar import the same classes. ``--sidecar-only`` (GPU hosts without a Go
toolchain) generates just ``race/v1/sidecar.proto``.

``grpc_tools.protoc`` writes absolute imports such as ``from tendermint.abci import
types_pb2``; they are rewritten to package-relative ones (``race_protocol.gen.tendermint...``)
so the generated tree never need to be on ``sys.path``.

Usage: ``python proto/generate.py [--cometbft-version v0.38.26] [--sidecar-only]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUR_PROTO_ROOT = REPO / "proto"
COMETBFT_MODULE = "github.com/cometbft/cometbft"
GOGOPROTO_MODULE = "github.com/cosmos/gogoproto"
DEFAULT_COMETBFT_VERSION = "v0.38.26"
DEFAULT_GOGOPROTO_VERSION = "v1.7.0"
ABCI_ROOT_PROTO = "tendermint/abci/types.proto"
SIDECAR_PROTOS = {"race/v1/sidecar.proto"}
IMPORT_RE = re.compile(r'^import\s+(?:public\s+)?"([^"]+)";', re.MULTILINE)
GENERATED_TOP_PACKAGES = ("tendermint", "gogoproto", "race")


def go_module_dir(module: str, version: str) -> Path:
    """Return the module's directory in the Go module cache, downloading it if needed."""
    gomodcache = subprocess.run(
        ["go", "env", "GOMODCACHE"], check=True, capture_output=True, text=True
    ).stdout.strip()
    path = Path(gomodcache) / f"{module}@{version}"
    if not path.is_dir():
        subprocess.run(
            ["go", "mod", "download", f"{module}@{version}"], check=True, cwd=REPO
        )
    if not path.is_dir():
        raise SystemExit(f"{module}@{version} is not in the Go module cache ({path})")
    return path


def import_closure(root: str, include_dirs: list[Path]) -> list[str]:
    """All non-google proto files reachable from ``root`` through imports, sorted."""
    seen: set[str] = set()
    pending = [root]
    while pending:
        name = pending.pop()
        if name in seen or name.startswith("google/protobuf/"):
            continue
        seen.add(name)
        source = next((d / name for d in include_dirs if (d / name).is_file()), None)
        if source is None:
            raise SystemExit(f"cannot find {name} in {[str(d) for d in include_dirs]}")
        pending.extend(IMPORT_RE.findall(source.read_text()))
    return sorted(seen)


def protoc(out_dir: Path, include_dirs: list[Path], files: list[str], grpc: bool) -> None:
    """Run grpc_tools.protoc for ``files`` into ``out_dir``."""
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [sys.executable, "-m", "grpc_tools.protoc", f"-I{well_known}"]
    args += [f"-I{d}" for d in include_dirs]
    args += [f"--python_out={out_dir}", f"--pyi_out={out_dir}"]
    if grpc:
        args.append(f"--grpc_python_out={out_dir}")
    subprocess.run(args + files, check=True)


def make_package(out_dir: Path, package: str) -> None:
    """Add ``__init__.py`` files and rewrite absolute imports to ``package``."""
    prefix = "|".join(GENERATED_TOP_PACKAGES)
    from_re = re.compile(rf"^from ({prefix})([.\w]*) import", re.MULTILINE)
    import_re = re.compile(rf"^import ({prefix})([.\w]*)", re.MULTILINE)
    for directory in [out_dir, *[p for p in out_dir.rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").touch()
    for path in out_dir.rglob("*.py*"):
        text = path.read_text()
        text = from_re.sub(rf"from {package}.\1\2 import", text)
        text = import_re.sub(rf"import {package}.\1\2", text)
        path.write_text(text)


def generate_tree(
    out_dir: Path, package: str, jobs: list[tuple[list[Path], list[str], bool]]
) -> None:
    """Regenerate ``out_dir`` from scratch so stale modules never survive."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for include_dirs, files, grpc in jobs:
        if files:
            protoc(out_dir, include_dirs, files, grpc)
    make_package(out_dir, package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cometbft-version", default=DEFAULT_COMETBFT_VERSION)
    parser.add_argument("--gogoproto-version", default=DEFAULT_GOGOPROTO_VERSION)
    parser.add_argument("--sidecar-only", action="store_true",
                        help="only the sidecar's classes (no Go toolchain needed)")
    args = parser.parse_args()

    ours = sorted(str(p.relative_to(OUR_PROTO_ROOT)) for p in OUR_PROTO_ROOT.rglob("*.proto"))
    sidecar = [p for p in ours if p in SIDECAR_PROTOS]
    chain = [p for p in ours if p not in SIDECAR_PROTOS]

    out_dir, package = REPO / "race_protocol" / "gen", "race_protocol.gen"
    if args.sidecar_only:
        generate_tree(out_dir, package, [([OUR_PROTO_ROOT], sidecar, True)])
        return

    cometbft_proto = go_module_dir(COMETBFT_MODULE, args.cometbft_version) / "proto"
    gogoproto_root = go_module_dir(GOGOPROTO_MODULE, args.gogoproto_version)
    cometbft_includes = [cometbft_proto, gogoproto_root]
    abci_files = import_closure(ABCI_ROOT_PROTO, cometbft_includes)
    generate_tree(out_dir, package, [
        (cometbft_includes, abci_files, False),
        ([OUR_PROTO_ROOT, *cometbft_includes], [*chain, *sidecar], True),
    ])


if __name__ == "__main__":
    main()
