"""``race gov``: proposals, deposits, votes and tallies (whitepaper Appendix J, "Decentralized
Model Registration Process")."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import typer
from google.protobuf.message import Message

from abci_app.core.authority import governance_authority
from abci_app.modules.gov.escrow import escrow_address
from abci_app.modules.rewards.keeper import SPENDABLE_FUNDS
from abci_app.tx.codec import pack
from governance import lookups
from governance.common import (
    FeeOption,
    FromOption,
    LimitOption,
    TimeoutOption,
    WaitOption,
    as_json,
    command_errors,
    limited,
    query,
    resolve_address,
    sign_and_send,
)
from governance.options import DEFAULT_HOME_PATH, HomeOption, NodeOption
from governance.output import (
    CommandError,
    OutputFormat,
    OutputOption,
    console,
    key_value_table,
    print_json,
    rows_table,
    show,
)
from race_node.client.queries import ChainQueries
from race_node.client.rpc import CometRPC
from race_node.node.genesis_params import split_param_assignment
from race_protocol.gen.race.v1 import (
    bank_pb2,
    gov_pb2,
    models_pb2,
    params_pb2,
    query_pb2,
    rewards_pb2,
)

app = typer.Typer(
    help="Governance: propose models, parameter changes and community spends, deposit, vote, "
         "follow tallies. A proposal carries ordinary module messages; when it passes, the gov "
         "module account signs and runs them.\n\n"
         "Examples:\n\n"
         "  race gov propose model --id smollm2-135m --hf-repo HuggingFaceTB/SmolLM2-135M-Instruct"
         " --revision main --units 1000 --max-context 2048 --from validator\n\n"
         "  race gov vote 1 yes --from validator\n\n"
         "  race gov list --status voting_period --output json\n\n"
         "  race gov account",
    no_args_is_help=True,
)
propose_app = typer.Typer(
    help="Submit a proposal with its initial deposit. Its messages are checked on today's "
         "state before it is accepted; a message that would fail is refused with its own "
         "code.\n\n"
         "Examples:\n\n"
         "  race gov propose text --title 'Adopt the v2 spot-check rate' --from validator\n\n"
         "  race gov propose param epochs.epoch_length_blocks=720 --from validator\n\n"
         "  race gov propose send --to race1... --amount 100icoin --from validator",
    no_args_is_help=True,
)
app.add_typer(propose_app, name="propose")

TitleOption = Annotated[str | None, typer.Option(help="one line, at most 140 characters")]
SummaryOption = Annotated[str, typer.Option(help="what the proposal does and why")]
DepositOption = Annotated[str | None, typer.Option(
    help="initial deposit, e.g. 1000icoin; default: the chain's min_deposit, so voting opens "
         "at once")]
ProposalIdArgument = Annotated[int, typer.Argument(help="proposal id", min=1)]
STATUSES = ("deposit_period", "voting_period", "passed", "rejected", "vetoed",
            "deposit_failed", "failed")


class VoteChoice(StrEnum):
    yes = "yes"
    no = "no"
    abstain = "abstain"
    no_with_veto = "no-with-veto"


def _submit(action: str, messages_for: Callable[[str], list[Message]], title: str,
            summary: str, deposit: str | None, from_key: str, fee: str | None, wait: bool,
            timeout: float, home: Any, node: str | None, output: OutputFormat) -> None:
    """Sign and send a MsgSubmitProposal carrying ``messages_for(proposer)``, packed."""
    if len(title) > 140 or not title.strip():
        raise CommandError("--title must be 1-140 characters")

    def build(signer: str, rpc: CometRPC) -> list[Message]:
        if deposit is None:
            params = ChainQueries(rpc).call("GovParams").params  # type: ignore[attr-defined]
            amount = params.min_deposit_nicoin
        else:
            amount = lookups.parse_amount_nicoin(deposit, "deposit")
        return [gov_pb2.MsgSubmitProposal(
            proposer=signer, title=title, summary=summary, initial_deposit_nicoin=amount,
            messages=[pack(message) for message in messages_for(signer)])]

    sign_and_send(home=home, node=node, from_key=from_key, build=build, fee=fee, wait=wait,
                  timeout=timeout, output=output,
                  summary={"action": f"submit {action} proposal", "title": title},
                  report_events=(("submit_proposal", "proposal_id", "proposal_id"),
                                 ("submit_proposal", "kind", "kind"),
                                 ("proposal_voting_started", "voting_end_height",
                                  "voting_end_height")))


@propose_app.command("model")
def propose_model(
    model_id: Annotated[str, typer.Option("--id", help="registry id, e.g. smollm2-135m "
                                                       "(a-z, 0-9, '.', '_', '-')")],
    hf_repo: Annotated[str, typer.Option(help="Hugging Face repository, organisation/name")],
    revision: Annotated[str, typer.Option(help="commit hash or tag of that repository")],
    units: Annotated[int, typer.Option(help="units of compute per token", min=1)],
    max_context: Annotated[int, typer.Option(help="longest context in tokens", min=1)] = 4096,
    validation_threshold_ppm: Annotated[int, typer.Option(
        help="least similarity of replayed top-k logprobs to pass, parts per million",
        min=1, max=1_000_000)] = 990_000,
    title: TitleOption = None,
    summary: SummaryOption = "",
    deposit: DepositOption = None,
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Propose adding a model to the registry; it becomes active if the proposal passes.

    The proposal carries one MsgRegisterModel, owned by the proposer.

    Example:

      race gov propose model --id smollm2-135m --hf-repo HuggingFaceTB/SmolLM2-135M-Instruct
      --revision main --units 1000 --max-context 2048 --from validator
    """
    def register(proposer: str) -> list[Message]:
        return [models_pb2.MsgRegisterModel(
            authority=governance_authority(), owner=proposer, id=model_id,
            source=models_pb2.ModelSource(hf_repo=hf_repo, revision=revision),
            units_of_compute_per_token=units, max_context=max_context,
            validation_threshold_ppm=validation_threshold_ppm)]

    with command_errors(output):
        _submit("register-model", register, title or f"Register model {model_id}", summary,
                deposit, from_key, fee, wait, timeout, home, node, output)


@propose_app.command("retire-model")
def propose_retire_model(
    model_id: Annotated[str, typer.Argument(help="id of an active model")],
    title: TitleOption = None,
    summary: SummaryOption = "",
    deposit: DepositOption = None,
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Propose retiring an active model (its id is never reused).

    Example: race gov propose retire-model smollm2-135m --from validator
    """
    retire = models_pb2.MsgRetireModel(authority=governance_authority(), id=model_id)
    with command_errors(output):
        _submit("retire-model", lambda _proposer: [retire], title or f"Retire model {model_id}",
                summary, deposit, from_key, fee, wait, timeout, home, node, output)


@propose_app.command("update-model")
def propose_update_model(
    model_id: Annotated[str, typer.Argument(help="id of an active model")],
    units: Annotated[int | None, typer.Option(help="new units of compute per token",
                                              min=1)] = None,
    max_context: Annotated[int | None, typer.Option(help="new max context", min=1)] = None,
    validation_threshold_ppm: Annotated[int | None, typer.Option(
        help="new validation threshold, parts per million", min=1, max=1_000_000)] = None,
    title: TitleOption = None,
    summary: SummaryOption = "",
    deposit: DepositOption = None,
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Propose new parameters for an active model; options left out keep their value.

    Example: race gov propose update-model smollm2-135m --units 1200 --from validator
    """
    with command_errors(output):
        if units is None and max_context is None and validation_threshold_ppm is None:
            raise CommandError("give at least one of --units, --max-context, "
                               "--validation-threshold-ppm")
        update = models_pb2.MsgUpdateModelParams(
            authority=governance_authority(), id=model_id,
            units_of_compute_per_token=units or 0, max_context=max_context or 0,
            validation_threshold_ppm=validation_threshold_ppm or 0)
        _submit("update-model", lambda _proposer: [update],
                title or f"Update model {model_id}", summary, deposit, from_key, fee, wait,
                timeout, home, node, output)


def parse_param_changes(assignments: list[str]) -> list[tuple[str, str, str]]:
    """``module.key=value`` strings as (module, key, value), refusing malformed ones."""
    changes = []
    for assignment in assignments:
        parts = split_param_assignment(assignment)
        if parts is None:
            raise CommandError(f"bad change {assignment!r}: write MODULE.KEY=VALUE, e.g. "
                               "gov.voting_period_blocks=100")
        changes.append(parts)
    return changes


@propose_app.command("param")
def propose_param(
    changes: Annotated[list[str], typer.Argument(
        help="MODULE.KEY=VALUE, one or more; all apply together or none")],
    title: TitleOption = None,
    summary: SummaryOption = "",
    deposit: DepositOption = None,
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Propose changing chain parameters (see `race gov params` and docs/governance.md).

    The proposal carries one MsgUpdateParams with every change.

    Examples:

      race gov propose param epochs.epoch_length_blocks=720 --from validator

      race gov propose param gov.quorum_ppm=400000 gov.voting_period_blocks=50000 --from v
    """
    with command_errors(output):
        parsed = parse_param_changes(changes)
        update = params_pb2.MsgUpdateParams(authority=governance_authority(), changes=[
            params_pb2.ParamChange(module=m, key=k, value=v) for m, k, v in parsed])
        default_title = "Set " + ", ".join(f"{m}.{k}={v}" for m, k, v in parsed)
        _submit("param", lambda _proposer: [update], title or default_title[:140], summary,
                deposit, from_key, fee, wait, timeout, home, node, output)


@propose_app.command("text")
def propose_text(
    title: Annotated[str, typer.Option(help="one line, at most 140 characters")],
    summary: SummaryOption = "",
    deposit: DepositOption = None,
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Propose a text: it changes nothing on chain and records the network's opinion.

    Example: race gov propose text --title "Raise the spot-check rate" --summary "..." --from v
    """
    with command_errors(output):
        _submit("text", lambda _proposer: [], title, summary, deposit, from_key, fee, wait,
                timeout, home, node, output)


@propose_app.command("send")
def propose_send(
    to: Annotated[str, typer.Option(help="recipient: a race1... address or a key name")],
    amount: Annotated[str, typer.Option(help="e.g. 100icoin, paid from the gov account")],
    title: TitleOption = None,
    summary: SummaryOption = "",
    deposit: DepositOption = None,
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Propose a community spend: coins from the gov account (see `race gov account`) to a
    recipient. Deposits are held apart and are never spent.

    Example: race gov propose send --to race1... --amount 100icoin --summary "grant" --from v
    """
    with command_errors(output):
        amount_nicoin = lookups.parse_amount_nicoin(amount)
        if amount_nicoin == 0:
            raise CommandError("--amount must be more than zero")
        recipient = resolve_address(home, to)
        spend = bank_pb2.MsgSend(from_address=governance_authority(), to_address=recipient,
                                 amount_nicoin=amount_nicoin)
        default_title = f"Send {lookups.format_nicoin(amount_nicoin)} to {recipient}"
        _submit("send", lambda _proposer: [spend], title or default_title[:140], summary,
                deposit, from_key, fee, wait, timeout, home, node, output)


@propose_app.command("grant")
def propose_grant(
    fund: Annotated[str, typer.Argument(
        help=f"the fund that pays: {', '.join(SPENDABLE_FUNDS)}")],
    to: Annotated[str, typer.Argument(help="recipient: a race1... address or a key name")],
    amount: Annotated[str, typer.Argument(help="e.g. 5000icoin")],
    purpose: Annotated[str, typer.Option(help="what the grant pays for (on chain)")],
    title: TitleOption = None,
    summary: SummaryOption = "",
    deposit: DepositOption = None,
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Propose a grant from a fund the rewards module holds: the training fund (whitepaper
    Appendix K: training runs are funded by vote), the community pool, the forfeit pool or
    a genesis allocation (docs/rewards.md, "Funds"). See `race tokenomics` for balances.

    Examples:

      race gov propose grant training_fund race1... 5000icoin --purpose "DiLoCo run 3" --from v

      race gov propose grant community_pool builder 100icoin --purpose "docs" --from v
    """
    with command_errors(output):
        if fund not in SPENDABLE_FUNDS:
            raise CommandError(f"no fund {fund!r}; funds: {', '.join(SPENDABLE_FUNDS)}")
        amount_nicoin = lookups.parse_amount_nicoin(amount)
        if amount_nicoin == 0:
            raise CommandError("the amount must be more than zero")
        recipient = resolve_address(home, to)
        grant = rewards_pb2.MsgSpendFund(authority=governance_authority(), fund=fund,
                                         recipient=recipient, amount_nicoin=amount_nicoin,
                                         purpose=purpose)
        default_title = f"Grant {lookups.format_nicoin(amount_nicoin)} from the {fund}"
        _submit("grant", lambda _proposer: [grant], title or default_title[:140],
                summary or purpose, deposit, from_key, fee, wait, timeout, home, node, output)


@app.command("deposit")
def deposit(
    proposal_id: ProposalIdArgument,
    amount: Annotated[str, typer.Argument(help="e.g. 500icoin")],
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Add to a proposal's deposit (in its deposit or voting period).

    Example: race gov deposit 1 500icoin --from validator
    """
    with command_errors(output):
        amount_nicoin = lookups.parse_amount_nicoin(amount)
        if amount_nicoin == 0:
            raise CommandError("the deposit must be more than zero")
        sign_and_send(
            home=home, node=node, from_key=from_key, fee=fee, wait=wait, timeout=timeout,
            output=output,
            build=lambda signer, _rpc: [gov_pb2.MsgDeposit(
                depositor=signer, proposal_id=proposal_id, amount_nicoin=amount_nicoin)],
            summary={"action": "deposit", "proposal_id": proposal_id,
                     "amount": lookups.format_nicoin(amount_nicoin)},
            report_events=(("proposal_deposit", "total_deposit_nicoin",
                            "total_deposit_nicoin"),
                           ("proposal_voting_started", "voting_end_height",
                            "voting_end_height")))


@app.command("vote")
def vote(
    proposal_id: ProposalIdArgument,
    option: Annotated[VoteChoice, typer.Argument(help="yes, no, abstain or no-with-veto",
                                                 case_sensitive=False)],
    from_key: FromOption = ...,  # type: ignore[assignment]
    fee: FeeOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 30.0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Vote on a proposal in its voting period.

    Voting again replaces your vote: the latest counts, with your voting weight when the
    voting period ends.

    Example: race gov vote 1 yes --from validator
    """
    wire = {"yes": gov_pb2.VOTE_OPTION_YES, "no": gov_pb2.VOTE_OPTION_NO,
            "abstain": gov_pb2.VOTE_OPTION_ABSTAIN,
            "no-with-veto": gov_pb2.VOTE_OPTION_NO_WITH_VETO}[option.value]
    with command_errors(output):
        sign_and_send(
            home=home, node=node, from_key=from_key, fee=fee, wait=wait, timeout=timeout,
            output=output,
            build=lambda signer, _rpc: [gov_pb2.MsgVote(voter=signer, proposal_id=proposal_id,
                                                        option=wire)],
            summary={"action": "vote", "proposal_id": proposal_id, "option": option.value},
            report_events=(("proposal_vote", "weight", "weight"),
                           ("proposal_vote", "replaced", "replaced_earlier_vote")))


def _short_status(status: str) -> str:
    return status.removeprefix("PROPOSAL_STATUS_").lower()


def _deadline(proposal: dict[str, Any]) -> str:
    status = _short_status(proposal["status"])
    if status == "deposit_period":
        return f"deposits until {proposal['deposit_end_height']}"
    if status == "voting_period":
        return f"votes until {proposal['voting_end_height']}"
    return f"ended at {proposal['voting_end_height'] or proposal['deposit_end_height']}"


@app.command("list")
def list_proposals(
    status: Annotated[str | None, typer.Option(help="only this status: " + ", ".join(STATUSES))]
        = None,
    limit: LimitOption = 0,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """List proposals.

    The chain answers a page at a time: this reads every page (or the first --limit
    entries) into one list, the same JSON document as a single page; stderr says when
    entries remain. With --status, --limit counts the proposals read, shown or not.

    Examples:

      race gov list

      race gov list --limit 50

      race gov list --status voting_period --output json
    """
    with command_errors(output):
        request = query_pb2.QueryProposalsRequest()
        if status:
            if status not in STATUSES:
                raise CommandError(f"--status must be one of {', '.join(STATUSES)}")
            request.status = gov_pb2.ProposalStatus.Value("PROPOSAL_STATUS_" + status.upper())
        answer = as_json(query(home, node, "Proposals", request, **limited(limit)))
    rows = [(p["id"], p["kind"], p["title"], _short_status(p["status"]),
             lookups.format_nicoin(int(p["total_deposit_nicoin"])), _deadline(p))
            for p in answer["proposals"]]
    show(output, answer, rows_table("proposals", ["id", "kind", "title", "status", "deposit",
                                                  "period"], rows))


def _message_rows(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """A proposal's messages, field by field, labelled with their type's short name (and
    their position when there are several); the authority is always the gov account."""
    rows: list[tuple[str, Any]] = []
    for index, message in enumerate(messages):
        type_name = str(message.get("@type", "")).rsplit(".", 1)[-1]
        label = type_name if len(messages) == 1 else f"{index + 1}.{type_name}"
        for key, value in message.items():
            if key in ("@type", "authority") or value in ("", "0", [], {}):
                continue
            if key == "changes":
                value = ", ".join(f"{c['module']}.{c['key']}={c['value']}" for c in value)
            elif key == "amount_nicoin":
                value = lookups.format_nicoin(int(value))
            elif isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            rows.append((f"{label}.{key}", value))
    return rows


@app.command("show")
def show_proposal(
    proposal_id: ProposalIdArgument,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show one proposal with its deposits and votes (every page of each).

    Example: race gov show 1 --output json
    """
    with command_errors(output):
        proposal = as_json(query(home, node, "Proposal", query_pb2.QueryProposalRequest(
            proposal_id=proposal_id)))["proposal"]
        deposits = as_json(query(home, node, "Deposits", query_pb2.QueryDepositsRequest(
            proposal_id=proposal_id)))["deposits"]
        votes = as_json(query(home, node, "Votes", query_pb2.QueryVotesRequest(
            proposal_id=proposal_id)))["votes"]
    document = {"proposal": proposal, "deposits": deposits, "votes": votes}
    if output is OutputFormat.json:
        print_json(document)
        return
    rows = [("id", proposal["id"]), ("title", proposal["title"]),
            ("summary", proposal["summary"]), ("kind", proposal["kind"]),
            ("proposer", proposal["proposer"]), ("status", _short_status(proposal["status"])),
            ("submitted at", proposal["submit_height"]), ("period", _deadline(proposal)),
            ("total deposit", lookups.format_nicoin(int(proposal["total_deposit_nicoin"])))]
    rows += _message_rows(proposal["messages"])
    if proposal["execution_log"]:
        rows.append(("execution failed", proposal["execution_log"]))
    console.print(key_value_table(f"proposal {proposal_id}", rows))
    if deposits:
        console.print(rows_table("deposits", ["depositor", "amount"], [
            (d["depositor"], lookups.format_nicoin(int(d["amount_nicoin"]))) for d in deposits]))
    if votes:
        console.print(rows_table("votes", ["voter", "option", "height"], [
            (v["voter"], v["option"].removeprefix("VOTE_OPTION_").lower(), v["height"])
            for v in votes]))


@app.command("tally")
def tally(
    proposal_id: ProposalIdArgument,
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show a proposal's tally.

    Final once voting ended; before that, the running count with today's voting weights
    and the outcome it would have.

    Example: race gov tally 1
    """
    with command_errors(output):
        answer = as_json(query(home, node, "Tally", query_pb2.QueryTallyRequest(
            proposal_id=proposal_id)))
    counts = answer["tally"]
    total = int(counts["total_weight"]) or 1
    rows = [(option, counts[option], f"{100 * int(counts[option]) / total:.1f}%")
            for option in ("yes", "no", "no_with_veto", "abstain")]
    title = (f"proposal {proposal_id}: {'final' if answer['final'] else 'running'} tally, "
             f"outcome {answer['outcome'] or 'none yet'}, total weight {counts['total_weight']}")
    show(output, answer, rows_table(title, ["option", "weight", "of total"], rows))


@app.command("params")
def params(
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show the governance parameters (deposits in nicoin, periods in blocks, ratios in ppm).

    Example: race gov params --output json
    """
    with command_errors(output):
        answer = as_json(query(home, node, "GovParams"))
    show(output, answer, key_value_table("gov params", list(answer["params"].items())))


@app.command("account")
def account(
    home: HomeOption = DEFAULT_HOME_PATH,
    node: NodeOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show the gov module account, which signs passed proposals' messages and holds the
    community's coins, and the separate account that holds proposals' deposits in escrow.

    Anyone can fund the gov account with `race tx send`; only a passed proposal spends
    from it (`race gov propose send`).

    Example: race gov account --output json
    """
    with command_errors(output):
        answer = {
            name: as_json(query(home, node, "Balance",
                                query_pb2.QueryBalanceRequest(address=address)))
            for name, address in (("gov_account", governance_authority()),
                                  ("deposits_escrow", escrow_address()))
        }
    rows = [("gov account", answer["gov_account"]["address"]),
            ("balance", answer["gov_account"]["display"]),
            ("deposits escrow", answer["deposits_escrow"]["address"]),
            ("held in escrow", answer["deposits_escrow"]["display"])]
    show(output, answer, key_value_table("governance accounts", rows))
