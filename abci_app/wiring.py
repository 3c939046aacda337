"""How the app is assembled: which modules, in which order, and who hears which hook.

The one place the consensus order is written (Cosmos SDK's ``app.go``). Every validator
must run the same wiring, so changing anything here is a chain upgrade.

* Genesis import and ``begin_block`` run in :data:`INSTALLED_MODULES` order.
* ``end_block`` runs in :data:`END_BLOCK_ORDER`. The epochs module fires the end-of-epoch
  hook from its ``end_block``, so every module whose ``end_block`` must see the new
  epoch's values comes after it. The beacon comes before epochs: when a round ends in an
  epoch's last block, the end-of-epoch subscribers already see its output
  (docs/beacon.md, "Rounds and epochs"). The race module comes after the beacon (an
  output finalized in a block the race module closes a cycle in is not "after" that
  cycle) and before epochs: when a cycle's boundary falls in an epoch's last block, the
  end-of-epoch subscribers (pricing's weighted median) already see the new weights.
* The rewards module comes after the race module in both orders: its genesis reads the
  first cycle, and it acts at a cycle's boundary through the ``race_cycle_closed`` hook.
* The verification module is installed last (its genesis reads the validators and the
  epoch) and its ``end_block`` runs before the race module's: a dispute decided in a block
  that closes a cycle is counted against that cycle's held rewards before their release.
* After every ``end_block``, the staking module's queued power changes become the
  block's ``validator_updates`` (:meth:`abci_app.app.RaceApp.finalize_block`): a power
  change made in an end-of-epoch hook reaches CometBFT in the same block.
* :func:`hooks` lists each hook's subscribers in the order they run.
"""

from __future__ import annotations

from abci_app.ante import check_and_charge
from abci_app.core.context import Context
from abci_app.core.hooks import Hooks
from abci_app.core.module import Module
from abci_app.core.pipeline import TxPipeline
from abci_app.core.registry import ModuleRegistry
from abci_app.core.stateless import EnvelopeLimits
from abci_app.modules import (
    auth,
    bank,
    beacon,
    epochs,
    gov,
    inference,
    models,
    params,
    pricing,
    race,
    rewards,
    staking,
    verification,
)

INSTALLED_MODULES: tuple[Module, ...] = (
    auth.MODULE,
    bank.MODULE,
    staking.MODULE,
    epochs.MODULE,
    params.MODULE,
    pricing.MODULE,
    models.MODULE,
    gov.MODULE,
    beacon.MODULE,
    inference.MODULE,
    race.MODULE,
    rewards.MODULE,
    verification.MODULE,
)

END_BLOCK_ORDER: tuple[str, ...] = (
    "auth", "bank", "staking", "params", "beacon", "verification", "race", "epochs",
    "pricing", "models", "gov", "inference", "rewards",
)


def hooks() -> Hooks:
    """Each hook's subscribers, in the order they run on every validator."""
    return Hooks(
        # Whitepaper Appendix J 3b: the weighted median of the price votes becomes the
        # next epoch's price at the end of each epoch.
        # Whitepaper section 6: an epoch's verifier seeds may be revealed once it ends, and
        # the next epoch's verifiers are fixed with the weights of its last block.
        epoch_end=(pricing.MODULE.after_epoch_end, verification.MODULE.after_epoch_end),
        # A register-model proposal reserves its model id while it is open, and frees it
        # when it closes without executing.
        proposal_submitted=(models.MODULE.after_proposal_submitted,),
        proposal_closed=(models.MODULE.after_proposal_closed,),
        # Whitepaper Appendix B: the beacon's output seeds the Race and draws the proof
        # samples (docs/race.md, "The cycle").
        beacon_round_started=(),
        beacon_output=(race.MODULE.after_beacon_output,),
        # Whitepaper section 6: at a cycle's end its held rewards are released (or
        # forfeited), the minimum issuance is shared, and reputations move.
        race_cycle_closed=(rewards.MODULE.after_race_cycle_closed,),
        # Whitepaper section 6: every settled task may be drawn for a check.
        tickets_settled=(verification.MODULE.after_tickets_settled,),
    )


def build_registry(modules: tuple[Module, ...] = INSTALLED_MODULES,
                   hook_set: Hooks | None = None,
                   end_block_order: tuple[str, ...] | None = None) -> ModuleRegistry:
    """The registry of the installed modules, with the hooks wired.

    Build it before opening a :class:`~abci_app.store.CommittedState`: importing a
    module declares its tables, and the store creates every declared table.
    """
    if end_block_order is None and modules is INSTALLED_MODULES:
        end_block_order = END_BLOCK_ORDER
    return ModuleRegistry(modules, hook_set if hook_set is not None else hooks(),
                          end_block_order)


def _envelope_limits(ctx: Context) -> EnvelopeLimits:
    limits: EnvelopeLimits = ctx.params("auth")
    return limits


def tx_pipeline(registry: ModuleRegistry) -> TxPipeline:
    """The tx rules: the auth module's envelope limits and its ante handler."""
    return TxPipeline(registry, _envelope_limits, check_and_charge)
