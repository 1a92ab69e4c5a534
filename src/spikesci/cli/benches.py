"""`spikesci bench paradigms` (CTA vs ATC vs CAAS) and `spikesci bench codecs` (which codecs run here)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from spikesci.cli.common import add_force_arg, add_size_args, print_json
from spikesci.errors import SpikeSciError


def register(commands, bench) -> None:
    p = bench.add_parser(
        "paradigms", help="CTA vs ATC vs CAAS with real codecs: RD plot, BD-rate table, results.json",
        description="Code spikes then analyse (CTA), analyse then code (ATC), and code features (CAAS, "
        "spikesci's own codec) on held-out simulated scenes and on the given files; writes DIR/results.json, "
        "DIR/rd.png and DIR/bd_rate.txt. A .dat with a same-named .png beside it is scored against that "
        "picture at --frame.",
    )
    add = p.add_argument
    add("files", nargs="*", metavar="FILE", help=".dat/.npz clips to add to the suite")
    add("--out", default="bench_out/paradigms",
        help="output folder (created if missing; default bench_out/paradigms, refused if it already holds "
        "results unless --force)")
    add("--suite", default=None, help="simulated suite: heldout (default), small (--quick) or none")
    add("--quick", action="store_true", help="small run: small suite, 4 qualities, 2 eval frames")
    add("--frame", type=int, default=None, help="spike frame of a .png ground truth (default: middle)")
    add("--codecs", default=None, help="comma list of lossy codecs (default: x264,x265,svt-av1,vp9,vvc)")
    add("--lossless", default="ffv1", help="comma list of lossless CTA codecs ('' for none)")
    add("--recon", default="tfp,tfi,net", help="comma list of reconstructions (tfp, tfi, net)")
    add("--paradigms", default="CTA,ATC,CAAS", help="comma list of paradigms to run")
    add("--points", type=int, default=6, help="qualities per codec, spread over its ladder (6)")
    add("--no-refine", action="store_true",
        help="do not add settings to ATC curves with < 4 Pareto points (default: bisect their ladder)")
    add("--stride", type=int, default=None, help="spike frames per image (default: learned codec's, or 8)")
    add("--gop", type=int, default=None,
        help="images (ATC) and feature maps (CAAS) per GOP, 1-255: the random-access period, the same for "
             "every method (default 32)")
    add("--caas-codecs", default="learned,x265,svt-av1",
        help="comma list of CAAS feature codecs (learned, x265, svt-av1)")
    add("--bd-method", choices=("pchip", "cubic"), default="pchip",
        help="BD-rate interpolation of results.json's bd_rate and the first table: pchip (JCT-VC / JVET "
             "test sheets, default) or cubic (VCEG-M33's single fit); both tables are written")
    add("--cta-speed", default="fast", help="encoder speed class for CTA: fast, medium or strong")
    add("--atc-speed", default="medium", help="encoder speed class for ATC: fast, medium or strong")
    add("--white-rate", type=float, default=None, help="spikes per frame at full white, for files")
    add("--no-progress", action="store_true", help="no progress bars")
    add_size_args(p)
    add_force_arg(p)
    p.set_defaults(func=cmd_paradigms)

    c = bench.add_parser("codecs", help="list the conventional codecs and whether each can run here")
    c.set_defaults(func=cmd_codecs)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in (text or "").split(",") if s.strip())


def cmd_paradigms(args: argparse.Namespace) -> int:
    from spikesci.bench.paradigms import ParadigmConfig
    from spikesci.bench.rd import bd_text, format_curves, format_end_side, format_points
    from spikesci.bench.suite import file_clip, quick_config, run_bench, suite_clips
    from spikesci.simulate.camera import DEFAULT_WHITE_RATE

    out = Path(args.out)
    if (out / "results.json").exists() and not args.force:
        raise SpikeSciError(f"{out / 'results.json'}: already exists (use --force to overwrite)")
    paradigms = tuple(p.upper() for p in _split(args.paradigms))
    unknown = set(paradigms) - {"CTA", "ATC", "CAAS"}
    if unknown:
        raise SpikeSciError(f"unknown paradigm(s) {', '.join(sorted(unknown))} (choose from CTA, ATC, CAAS)")
    for name in ("points", "gop", "stride"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise SpikeSciError(f"--{name} must be positive, got {getattr(args, name)}")
    if args.gop is not None and args.gop > 255:
        raise SpikeSciError(f"--gop must be 1..255 (a stream's GOP size), got {args.gop}")
    recons = tuple(r.lower() for r in _split(args.recon))
    from spikesci.sci_header import CONVENTIONAL

    caas_codecs = tuple(c.lower() for c in _split(args.caas_codecs))
    known = ("learned", *CONVENTIONAL)
    if set(caas_codecs) - set(known):
        raise SpikeSciError(f"unknown CAAS codec(s) in '{args.caas_codecs}' (choose from {', '.join(known)})")
    cfg = ParadigmConfig(lossless=_split(args.lossless), reconstructors=recons, paradigms=paradigms,
                         points=args.points, refine=not args.no_refine, gop=args.gop, stride=args.stride,
                         cta_speed=args.cta_speed, atc_speed=args.atc_speed,
                         caas_models=tuple(None if c == "learned" else c for c in caas_codecs),
                         bd_method=args.bd_method)
    from spikesci.baselines import SPEEDS

    if not {args.cta_speed, args.atc_speed} <= set(SPEEDS):
        raise SpikeSciError(f"speed classes are {', '.join(SPEEDS)}")
    if args.codecs:
        from spikesci.baselines import CODECS

        codecs = _split(args.codecs)
        bad = [c for c in codecs if c not in CODECS]
        if bad:
            raise SpikeSciError(f"unknown codec(s) {', '.join(bad)} (choose from {', '.join(CODECS)})")
        cfg = replace(cfg, codecs=codecs)
    if args.quick:
        cfg = quick_config(cfg)
    suite = args.suite or ("small" if args.quick else "heldout")
    white = args.white_rate if args.white_rate is not None else DEFAULT_WHITE_RATE
    clips = suite_clips(suite)
    clips += [file_clip(f, args.height, args.width, args.frame, white) for f in args.files]
    results = run_bench(clips, cfg, out, progress=not args.no_progress,
                        log=lambda m: print(m, file=sys.stderr))
    for line in results["skipped"]:
        print(f"skipped: {line}", file=sys.stderr)
    print(format_points(results["points"]))
    print()
    print(format_curves(results["points"]))
    print()
    print(bd_text(results))
    print()
    print(format_end_side(results["end_side"]))
    print(f"\nwrote {out / 'results.json'}, {out / 'rd.png'}, {out / 'bd_rate.txt'} "
          f"({len(results['points'])} points, {results['seconds']:.0f} s)")
    return 0


def cmd_codecs(args: argparse.Namespace) -> int:
    from spikesci.baselines import codec_report

    print_json(codec_report())
    return 0
