"""`federated keygen | round | export-update | aggregate | import-model`."""

from __future__ import annotations

from pathlib import Path

import typer

from finanalytics_cli.commands._common import open_store
from finanalytics_cli.output import Result, emit, message

app = typer.Typer(
    help=(
        "Improve a shared category classifier with other households without sharing a transaction."
        "\n\nExample: finanalytics federated keygen --out ~/federated"
    ),
    no_args_is_help=True,
)


@app.command("keygen")
def keygen(
    out: str = typer.Option(..., "--out", help="Directory for NAME.key (private, 0600) and NAME.pub."),
    name: str = typer.Option("member", "--name", help="The file names' stem, e.g. alice or aggregator."),
) -> None:
    """Make the keys of a member or the aggregator (X25519 for masks and encryption, Ed25519 for signatures).

    Example: finanalytics federated keygen --out ~/fl --name alice
    """
    from finanalytics_cli.engine.errors import InvalidInput
    from finanalytics_cli.privacy.federated import keygen as make

    if not out.strip():  # (a Path option would have read "" as ".", the current directory)
        raise InvalidInput("--out is empty: give the directory for the key pair")
    result = make(Path(out), name)
    message(f"Share {result['public_key']} with the group; keep {result['private_key']} to yourself.")
    emit(Result("federated keygen", result))


@app.command("round")
def new_round(
    key: Path = typer.Option(..., "--key", help="The aggregator's private key (.key)."),
    member: list[Path] = typer.Option(..., "--member", help="Each member's public key (.pub; repeat)."),
    name: str = typer.Option(..., "--name", help="The round's name (1-60 characters)."),
    out: Path = typer.Option(..., "--out", help="The round file to write and send to every member."),
    base: Path = typer.Option(None, "--base", help="The shared model this round starts from (none: the first)."),
    epsilon: str = typer.Option("8", "--epsilon", help="Epsilon per transaction every member's update spends."),
) -> None:
    """Start a round (aggregator): a signed round file with a fresh nonce, the base model and the roster.

    Example: finanalytics federated round --key agg.key --member alice.pub --member bob.pub --name r1 --out r1.round
    """
    from finanalytics_cli.privacy.dp import parse_epsilon
    from finanalytics_cli.privacy.federated import new_round as make

    result = make(key, list(member), name, base, out, parse_epsilon(epsilon))
    message(f"Wrote {out} for {len(result['members'])} members; send it to each of them.")
    emit(Result("federated round", result))


@app.command("export-update")
def export_update(
    to: Path = typer.Option(..., "--to", help="The aggregator's public key (.pub) that signed the round file."),
    out: Path = typer.Option(..., "--out", help="The update file to write (encrypted for the aggregator)."),
    key: Path = typer.Option(..., "--key", help="Your own private key (.key) from `federated keygen`."),
    round_file: Path = typer.Option(..., "--round", help="The round file from the aggregator (`federated round`)."),
    epsilon: str = typer.Option(None, "--epsilon", help="The round's epsilon (default: the round file's; checked)."),
    base: Path = typer.Option(None, "--base", help="The round's base model, if it names one."),
) -> None:
    """Sum your labels per category, add DP noise, mask, sign and encrypt the update for the aggregator.

    Example: finanalytics federated export-update --to agg.pub --key alice.key --round r1.round --out a.upd
    """
    from finanalytics_cli.privacy.dp import parse_epsilon
    from finanalytics_cli.privacy.federated import write_update

    with open_store() as store:
        info = write_update(store, to, key, round_file, parse_epsilon(epsilon) if epsilon else None, base, out)
    eps = info["epsilon"]
    message(
        f"Wrote {out}: {info['labels']} labels, epsilon {eps:g} per transaction; send it to the aggregator. "
        f"Check the round's members with the group: {', '.join(info['roster'])}."
    )
    emit(Result("federated export-update", {**info, "file": str(out)}, meta={"dp": {"epsilon_spent": eps}}))


@app.command("aggregate")
def aggregate(
    files: list[Path] = typer.Argument(..., metavar="FILES...", help="Every member's update file."),
    key: Path = typer.Option(..., "--key", help="The aggregator's private key (.key)."),
    round_file: Path = typer.Option(..., "--round", help="The round file the updates answer."),
    out: Path = typer.Option(..., "--out", help="The shared model file to write (signed with your key)."),
    base: Path = typer.Option(None, "--base", help="The shared model the round started from."),
) -> None:
    """Check and combine the members' updates (secure aggregation) into the signed shared model.

    Example: finanalytics federated aggregate a.upd b.upd c.upd --key agg.key --round r1.round --out shared.model
    """
    from finanalytics_cli.engine.errors import InvalidInput
    from finanalytics_cli.engine.files import resolve_output
    from finanalytics_cli.privacy.federated import aggregate as combine
    from finanalytics_cli.privacy.federated import read_private, save_model

    target = resolve_output(out)
    if target.exists():
        raise InvalidInput(f"{out} already exists: refusing to overwrite it")
    model = combine(list(files), key, round_file, base)
    result = save_model(model, target, read_private(key))
    message(f"Wrote the shared model {out} from {model.members} members.")
    emit(Result("federated aggregate", result))


@app.command("import-model")
def import_model(
    model_file: Path = typer.Argument(..., metavar="MODEL", help="A shared model file."),
    aggregator: Path = typer.Option(..., "--from", help="The aggregator's public key: the model must be signed by it."),
) -> None:
    """Register the shared model plus your own labels as a category_classifier challenger, measured out of sample.

    Example: finanalytics federated import-model shared.model --from agg.pub
    """
    from finanalytics_cli.privacy.federated import import_model as register

    with open_store() as store, store.transaction():
        result = register(store, model_file, aggregator)
    m = result["metrics"]
    if m.get("accuracy") is not None:
        measured = (
            f"on your newest {m['evaluated_on']} labels: {m['accuracy']:.1%} with your labels added, "
            f"{m['accuracy_shared']:.1%} shared alone, keyword rules {m['accuracy_keyword_rules']:.1%}"
        )
        if m.get("accuracy_own_only") is not None:
            measured += f", your labels alone {m['accuracy_own_only']:.1%}"
    else:
        measured = "not measured: " + m.get("note", "no labels out of sample")
    message(
        f"Registered category_classifier model {result['model_id']} (federated); accuracy {measured}. "
        f"`finanalytics models deploy {result['model_id']} --env production` serves it."
    )
    emit(Result("federated import-model", result))
