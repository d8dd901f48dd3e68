"""`federated keygen | export-update | aggregate | import-model`."""

from __future__ import annotations

from pathlib import Path

import typer

from finanalytics_cli.commands._common import open_store
from finanalytics_cli.output import Result, emit, message

app = typer.Typer(
    help="Improve a shared category classifier with other households without sharing a transaction.",
    no_args_is_help=True,
)


@app.command("keygen")
def keygen(
    out: str = typer.Option(..., "--out", help="Directory for NAME.key (private, 0600) and NAME.pub."),
    name: str = typer.Option("member", "--name", help="The file names' stem, e.g. alice or aggregator."),
) -> None:
    """Make an X25519 key pair for a member or the aggregator.

    Example: finanalytics federated keygen --out ~/fl --name alice
    """
    from finanalytics_cli.engine.errors import InvalidInput
    from finanalytics_cli.privacy.federated import keygen as make

    if not out.strip():  # (a Path option would have read "" as ".", the current directory)
        raise InvalidInput("--out is empty: give the directory for the key pair")
    result = make(Path(out), name)
    message(f"Share {result['public_key']} with the group; keep {result['private_key']} to yourself.")
    emit(Result("federated keygen", result))


@app.command("export-update")
def export_update(
    to: Path = typer.Option(..., "--to", help="The aggregator's public key (.pub)."),
    out: Path = typer.Option(..., "--out", help="The update file to write (encrypted for the aggregator)."),
    key: Path = typer.Option(..., "--key", help="Your own private key (.key) from `federated keygen`."),
    peer: list[Path] = typer.Option([], "--peer", help="Each other member's public key (repeat; for masking)."),
    round_id: str = typer.Option(..., "--round", help="The round's name, the same for every member."),
    epsilon: str = typer.Option("8", "--epsilon", help="Epsilon per transaction this update spends."),
    base: Path = typer.Option(None, "--base", help="The shared model this round starts from (none: the first)."),
) -> None:
    """Train on your labels and write a clipped, DP-noised, masked update encrypted for the aggregator.

    Example: finanalytics federated export-update --to agg.pub --key alice.key --peer bob.pub --round r1 --out a.upd
    """
    from finanalytics_cli.privacy.dp import parse_epsilon
    from finanalytics_cli.privacy.federated import write_update

    eps = parse_epsilon(epsilon)
    with open_store() as store:
        info = write_update(store, to, key, list(peer), round_id, eps, base, out)
    message(f"Wrote {out}: {info['labels']} labels, epsilon {eps:g} per transaction; send it to the aggregator.")
    emit(Result("federated export-update", {**info, "file": str(out)}, meta={"dp": {"epsilon_spent": eps}}))


@app.command("aggregate")
def aggregate(
    files: list[Path] = typer.Argument(..., metavar="FILES...", help="Every member's update file."),
    key: Path = typer.Option(..., "--key", help="The aggregator's private key (.key)."),
    out: Path = typer.Option(..., "--out", help="The shared model file to write."),
    base: Path = typer.Option(None, "--base", help="The shared model the round started from."),
) -> None:
    """Combine the members' updates (secure aggregation, federated averaging) into the shared model.

    Example: finanalytics federated aggregate a.upd b.upd c.upd --key agg.key --out shared.model
    """
    from finanalytics_cli.privacy.federated import aggregate as combine
    from finanalytics_cli.privacy.federated import save_model

    model = combine(list(files), key, base)
    result = save_model(model, out)
    message(f"Wrote the shared model {out} from {model.members} members.")
    emit(Result("federated aggregate", result))


@app.command("import-model")
def import_model(model_file: Path = typer.Argument(..., metavar="MODEL", help="A shared model file.")) -> None:
    """Register a shared model as a category_classifier challenger (`models deploy` promotes it).

    Example: finanalytics federated import-model shared.model
    """
    from finanalytics_cli.privacy.federated import import_model as register

    with open_store() as store, store.transaction():
        result = register(store, model_file)
    message(
        f"Registered category_classifier model {result['model_id']} (federated); accuracy on your labels "
        f"{result['metrics']['accuracy']:.1%}. `finanalytics models deploy {result['model_id']} --env production` "
        "serves it."
    )
    emit(Result("federated import-model", result))
