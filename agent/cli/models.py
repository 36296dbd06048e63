"""``polychat models list|pull|check``: which model each tool uses, fetch them, try them."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

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
    pull.add_argument("--dry-run", action="store_true",
                      help="list the files each model needs and their size, check the disk, download nothing")
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


def pull_models(args: argparse.Namespace) -> int:
    """Ask the hub what each model needs, show it with sizes, check the disk, then fetch with a bar."""
    from agent.models import hub, weights

    settings = get_settings()
    slots = list(dict.fromkeys(args.tools or MODEL_SLOTS))
    unknown = [s for s in slots if s not in MODEL_SLOTS]
    if unknown:
        raise ToolError(f"Unknown tool {unknown[0]!r}; choose from {', '.join(MODEL_SLOTS)}.")
    if "speak_text" in slots and "speak_text_vocoder" not in slots:
        slots.append("speak_text_vocoder")
    bad_pairs = [p for p in args.pair if len(p.split("-")) != 2 or not all(p.split("-"))]
    if bad_pairs:
        raise ToolError(f"Write a translation pair as SRC-TGT, e.g. --pair en-de (not {bad_pairs[0]!r}).")
    if weights.hub_offline_flag():
        raise ToolError("HF_HUB_OFFLINE is set; unset it to download models.")
    if not weights.hub_reachable():
        raise ToolError(
            f"The model hub at {hub.endpoint()} cannot be reached from this machine; check the connection "
            f"(or HF_ENDPOINT) and try again."
        )
    targets, notes = weights.pull_targets(slots, settings, tuple(args.pair) or weights.DEFAULT_PAIRS)
    for line in notes:
        print(line)
    plans: list[hub.RepoPlan] = []
    failures = 0
    print(f"Asking {hub.endpoint()} which files the models need…", flush=True)
    for target in targets:
        try:
            plans.append(target.plan(settings))
        except PolychatError as e:
            print(f"{', '.join(target.slots)}: {e}")
            failures += 1
            continue
        show_plan(plans[-1], target.slots)
    if not plans:
        return 1 if failures else 0
    total = sum(p.total for p in plans)
    needed = sum(f.size for p in plans for f in p.to_fetch())
    left_out = sum(p.skipped_bytes for p in plans)
    print(f"\nTotal: {hub.human_size(total)} in {sum(len(p.files) for p in plans)} files"
          f" ({hub.human_size(total - needed)} already here, {hub.human_size(needed)} to download);"
          f" {hub.human_size(left_out)} of other files stay on the hub.")
    try:
        hub.check_disk(plans)
    except PolychatError as e:
        print(e)
        return 1
    if args.dry_run:
        print("Dry run: nothing was downloaded.")
        return 1 if failures else 0
    for the_plan in plans:
        try:
            if not the_plan.to_fetch():
                weights.fetch(the_plan)  # nothing to download; the snapshot is named main
            else:
                with hub.terminal_bar(the_plan.title, the_plan.total) as progress:
                    weights.fetch(the_plan, progress)
            print(f"{the_plan.repo}: ready.", flush=True)
        except PolychatError as e:
            print(f"{the_plan.repo}: {e}")
            failures += 1
    return 1 if failures else 0


def show_plan(the_plan: Any, slots: tuple[str, ...]) -> None:
    """The files of one repo polychat fetches, with sizes; what it leaves on the hub, in one line."""
    from agent.models import hub

    print(f"\n{the_plan.repo}  ({the_plan.title}; for {', '.join(slots)})")
    width = max(len(f.path) for f in the_plan.files)
    for item in the_plan.files:
        here = "  (here)" if the_plan.cached(item) is not None else ""
        print(f"  {item.path:<{width}}  {hub.human_size(item.size):>9}{here}")
    count = f"= {len(the_plan.files)} file{'s' if len(the_plan.files) != 1 else ''}"
    line = f"  {count:<{width}}  {hub.human_size(the_plan.total):>9}"
    print(line)
    if the_plan.skipped:
        names = ", ".join(f.path for f in sorted(the_plan.skipped, key=lambda f: -f.size)[:4])
        more = f" and {len(the_plan.skipped) - 4} more" if len(the_plan.skipped) > 4 else ""
        print(f"  not needed: {len(the_plan.skipped)} files, {hub.human_size(the_plan.skipped_bytes)} ({names}{more})")


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
