"""``polychat models list|pull|check``: which model each tool uses, fetch them, try them."""

from __future__ import annotations

import argparse
import json
import time

from agent.config import MODEL_SLOTS, get_settings
from agent.errors import PolychatError, ToolError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list, download or check the models")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    listing = sub.add_parser("list", help="which model each tool will use, and whether it is here")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_models)

    pull = sub.add_parser("pull", help="download models from the hub (connected machines)")
    pull.add_argument("tools", nargs="*", metavar="TOOL", help=f"tools to fetch (default: all): {', '.join(MODEL_SLOTS)}")
    pull.add_argument("--pair", action="append", default=[], metavar="SRC-TGT",
                      help="translation pairs to fetch for translate_text (default: en-fr, fr-en, en-hi)")
    pull.set_defaults(handler=pull_models)

    check = sub.add_parser("check", help="load each present model and report")
    check.add_argument("tools", nargs="*", metavar="TOOL")
    check.set_defaults(handler=check_models)


def list_models(args: argparse.Namespace) -> int:
    from agent.models.catalog import describe_all

    settings = get_settings()
    choices = describe_all(settings)
    if args.json:
        print(json.dumps([
            {"tool": c.slot, "model": c.source, "backend": c.backend, "where": c.where,
             "present": c.present, "note": c.note} for c in choices
        ], indent=2))
        return 0
    print(f"profile: {settings.profile}    data dir: {settings.data_dir}")
    header = f"{'TOOL':<22} {'MODEL':<46} {'BACKEND':<15} WEIGHTS"
    print(header)
    for c in choices:
        status = c.where if c.present else "absent (polychat models pull " + c.slot + ")"
        line = f"{c.slot:<22} {c.source:<46} {c.backend:<15} {status}"
        if c.note:
            line += f"  [{c.note}]"
        print(line)
    return 0


DEFAULT_PAIRS = ("en-fr", "fr-en", "en-hi")


def pull_models(args: argparse.Namespace) -> int:
    from agent.models import backends, catalog, weights

    settings = get_settings()
    slots = args.tools or list(MODEL_SLOTS)
    unknown = [s for s in slots if s not in MODEL_SLOTS]
    if unknown:
        raise ToolError(f"Unknown tool {unknown[0]!r}; choose from {', '.join(MODEL_SLOTS)}.")
    if "speak_text" in slots and "speak_text_vocoder" not in slots:
        slots.append("speak_text_vocoder")
    if weights.hub_offline_flag():
        raise ToolError("HF_HUB_OFFLINE is set; unset it to download models.")
    if not weights.hub_reachable():
        raise ToolError("The model hub cannot be reached from this machine; check the connection (or HF_ENDPOINT) and try again.")
    failures = 0
    for slot in slots:
        declared = {b.name: b for b in backends.backends_of(slot)}
        pinned = settings.backend_for(slot)
        spec = declared[pinned] if pinned else next(  # the engine tried first that has hub weights
            (declared[name] for name in (*catalog.preferred_backends(slot), *declared)
             if not declared[name].default.startswith(("package:", "system:"))),
            next(iter(declared.values())),
        )
        backend = spec.name
        source = settings.model_for(slot) or spec.default
        if source.startswith(("package:", "system:", "tiny:")) or catalog.looks_like_path(source):
            print(f"{slot}: {source} is not a hub model; nothing to pull.")
            continue
        if spec.server:
            continue
        repos = [source.format(src=p.split("-")[0], tgt=p.split("-")[1]) for p in (args.pair or DEFAULT_PAIRS)] \
            if "{src}" in source else [source]
        if slot == "speak_text" and backend == "speecht5":
            from tools.voices import XVECTOR_REPO  # the voices' speaker embeddings

            repos.append(XVECTOR_REPO)
        for repo in repos:
            print(f"{slot}: pulling {repo} …", flush=True)
            try:
                if repo.endswith("xvectors"):
                    from tools.voices import download_xvectors

                    download_xvectors()
                else:
                    weights.download(repo, backend=backend)
                print(f"{slot}: {repo} ready.")
            except PolychatError as e:
                print(f"{slot}: {e}")
                failures += 1
            except Exception as e:  # network errors from the hub client
                print(f"{slot}: could not download {repo} ({type(e).__name__}); check the connection and try again.")
                failures += 1
    return 1 if failures else 0


def check_models(args: argparse.Namespace) -> int:
    from agent.models.catalog import resolve
    from agent.models.manager import get_manager

    settings = get_settings()
    manager = get_manager()
    slots = args.tools or list(MODEL_SLOTS)
    failures = 0
    for slot in slots:
        choice = resolve(slot, settings)
        if not choice.present:
            print(f"{slot:<22} skipped: {choice.source} is not on this machine")
            continue
        if choice.spec.server:
            print(f"{slot:<22} server backend {choice.backend}; not loaded here")
            continue
        started = time.perf_counter()
        try:
            loaded = manager.load(choice, variant={"src": "en", "tgt": "fr"})
        except PolychatError as e:
            print(f"{slot:<22} FAILED: {e}")
            failures += 1
            continue
        except Exception as e:  # a broken checkpoint: report, keep checking the rest
            print(f"{slot:<22} FAILED: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            failures += 1
            continue
        seconds = time.perf_counter() - started
        print(f"{slot:<22} ok: {choice.source} on {loaded.key[2]} ({seconds:.1f} s, {loaded.nbytes / 2**20:.0f} MB)")
    return 1 if failures else 0
