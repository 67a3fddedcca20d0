"""``python -m ledger``: verify a log or bundle, export bundles, witness a log, make keys."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .bundle import BundleReader, iter_log_bundle, iter_subject_bundle
from .errors import LedgerError, VerificationError
from .keys import NoteSigner, NoteVerifier
from .schema import open_engine
from .store import LogReader
from .verify import LogSummary, LogVerifier, ProvenEntry
from .witness import FetchError, Witness, WitnessAlarm


def _is_database_url(source: str) -> bool:
    return "://" in source and not Path(source).exists()


def _verify(args: argparse.Namespace) -> LogSummary:
    verifier = LogVerifier(
        log_key=NoteVerifier.from_vkey(args.log_key),
        authority_keys=[NoteVerifier.from_vkey(k) for k in args.authority_key],
        workers=args.workers,
    )
    if _is_database_url(args.source):
        return verifier.verify_database(args.source)
    with open(args.source, encoding="utf-8") as stream:
        bundle = BundleReader(stream)
        if bundle.header.origin != verifier.log_key.name:
            raise VerificationError(f"bundle is from log {bundle.header.origin!r}, not this log")
        if bundle.header.scope == "log":
            items = (i for i in bundle.items() if not isinstance(i, ProvenEntry))
            return verifier.verify_log(items)
        assert bundle.header.subject is not None
        notes, proven = [], []
        for item in bundle.items():
            if isinstance(item, str):
                notes.append(item)
            elif isinstance(item, ProvenEntry):
                proven.append(item)
            else:
                raise VerificationError("a subject bundle's entries must carry proofs")
        if len(notes) != 1:
            raise VerificationError("a subject bundle holds exactly one checkpoint")
        return verifier.verify_subject(bundle.header.subject, notes[0], proven)


def _export(args: argparse.Namespace) -> None:
    engine = open_engine(args.database)
    try:
        reader = LogReader(engine)
        checkpoint = reader.latest_checkpoint()
        origin = checkpoint.note.split("\n", 1)[0] if checkpoint else ""
        lines = (
            iter_subject_bundle(reader, origin, args.subject)
            if args.subject
            else iter_log_bundle(reader, origin)
        )
        with open(args.output, "w", encoding="utf-8") as out:
            out.writelines(lines)
    finally:
        engine.dispose()


def _witness(args: argparse.Namespace) -> int:
    witness = Witness(
        args.url,
        NoteVerifier.from_vkey(args.log_key),
        Path(args.state),
        cosigner=NoteSigner.from_skey(args.cosign) if args.cosign else None,
    )
    try:
        seen = witness.observe()
    except WitnessAlarm as exc:
        # Loud on purpose: this is the one thing a witness exists to notice.
        print(f"ALARM: {exc}", file=sys.stderr)
        print("ALARM: the state is unchanged; keep it as evidence.", file=sys.stderr)
        return 1
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(seen.line(), file=sys.stderr)
    print(seen.cosigned if seen.cosigned is not None else seen.note, end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser("verify", help="verify a database or an export bundle")
    verify.add_argument("source", help="export bundle file, or database URL")
    verify.add_argument("--log-key", required=True, help="the log's C2SP verifier key")
    verify.add_argument(
        "--authority-key", required=True, action="append", help="an authority verifier key"
    )
    verify.add_argument("--workers", type=int, default=None, help="signature processes")

    export = commands.add_parser("export", help="write an export bundle from a database")
    export.add_argument("database", help="database URL")
    export.add_argument("output", help="bundle file to write")
    export.add_argument("--subject", help="export one subject with inclusion proofs")

    witness = commands.add_parser(
        "witness",
        help="check a log's latest checkpoint against the last one seen; optionally cosign it",
    )
    witness.add_argument("url", help="the log's audit API, e.g. https://goc.example/ledger")
    witness.add_argument("--log-key", required=True, help="the log's C2SP verifier key")
    witness.add_argument("--state", required=True, help="folder keeping the last checkpoint seen")
    witness.add_argument("--cosign", help="signer key (skey) to cosign the checkpoint with")

    keygen = commands.add_parser("keygen", help="make an Ed25519 key: prints skey then vkey")
    keygen.add_argument("name", help="key name, e.g. the log origin")

    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            print(_verify(args).line())
        elif args.command == "witness":
            return _witness(args)
        elif args.command == "export":
            _export(args)
        else:
            signer = NoteSigner.generate(args.name)
            print(signer.skey())
            print(signer.verifier.vkey())
    except VerificationError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    except (LedgerError, OSError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
