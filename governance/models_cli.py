"""``race models``: the model registry and each model's price per token."""

from __future__ import annotations

from typing import Annotated

import typer

from governance.common import LimitOption, as_json, command_errors, limited, query
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption
from governance.output import (
    CommandError,
    OutputFormat,
    OutputOption,
    key_value_table,
    rows_table,
    show,
)
from race_protocol.gen.race.v1 import models_pb2, query_pb2

app = typer.Typer(
    help="The model registry: models enter, change and retire only through `race gov "
         "propose`; the price per token is units of compute per token x the price per unit.\n\n"
         "Examples:\n\n"
         "  race models list\n\n"
         "  race models show smollm2-135m --output json",
    no_args_is_help=True,
)
STATUSES = ("proposed", "active", "retired")


def _status(name: str) -> str:
    return name.removeprefix("MODEL_STATUS_").lower()


@app.command("list")
def list_models(
    status: Annotated[str | None, typer.Option(help="only proposed, active or retired")] = None,
    limit: LimitOption = 0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """List registry entries with their price per token at the current price.

    The chain answers a page at a time: this reads every page (or the first --limit
    entries) into one list, the same JSON document as a single page; stderr says when
    entries remain. With --status, --limit counts the entries read, shown or not.

    Examples:

      race models list

      race models list --status active --output json
    """
    with command_errors(output):
        request = query_pb2.QueryModelsRequest()
        if status:
            if status not in STATUSES:
                raise CommandError(f"--status must be one of {', '.join(STATUSES)}")
            request.status = models_pb2.ModelStatus.Value("MODEL_STATUS_" + status.upper())
        answer = as_json(query(home, node, "Models", request, **limited(limit)))
    rows = [(m["id"], _status(m["status"]), f"{m['source']['hf_repo']}@{m['source']['revision']}",
             m["units_of_compute_per_token"], m["max_context"], per_token)
            for m, per_token in zip(answer["models"], answer["price_per_token_nicoin"],
                                    strict=True)]
    title = f"models (price per unit of compute: {answer['price_per_unit_nicoin']} nicoin)"
    show(output, answer, rows_table(title, ["id", "status", "source", "units/token",
                                            "max context", "nicoin/token"], rows))


@app.command("show")
def show_model(
    model_id: Annotated[str, typer.Argument(help="registry id")],
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show one registry entry.

    Example: race models show smollm2-135m
    """
    with command_errors(output):
        answer = as_json(query(home, node, "Model", query_pb2.QueryModelRequest(id=model_id)))
    model = answer["model"]
    show(output, answer, key_value_table(f"model {model_id}", [
        ("status", _status(model["status"])),
        ("source", f"{model['source']['hf_repo']} @ {model['source']['revision']}"),
        ("units of compute per token", model["units_of_compute_per_token"]),
        ("price per token", f"{answer['price_per_token_nicoin']} nicoin"),
        ("max context", model["max_context"]),
        ("validation threshold", f"{model['validation_threshold_ppm']} ppm"),
        ("owner", model["owner"]), ("proposal", model["proposal_id"]),
        ("last change at height", model["updated_height"]),
    ]))
