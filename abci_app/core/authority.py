"""The governance authority: the gov module account, which signs every passed proposal's
messages (Cosmos SDK's ``x/gov`` authority).

Its address is derived from the module name and has no private key, so no user tx can be
signed by it; modules whose messages only governance may send compare the signer with it.
"""

from __future__ import annotations

from functools import cache

from abci_app.tx.keys import module_address

GOV_MODULE_ACCOUNT = "gov"


@cache
def governance_authority() -> str:
    """The gov module account's address, the only signer of a proposal's messages."""
    return module_address(GOV_MODULE_ACCOUNT)
