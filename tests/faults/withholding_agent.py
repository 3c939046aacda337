"""The node agent whose beacon duty deals but never reveals.

``python -m tests.faults.withholding_agent [race agent start options]`` runs the real
``race agent start`` with every duty as built for production, except that its beacon duty
is made with the test switch ``withhold_reveal``: the node deals in each round and then
stays silent, as a last revealer trying to steer the output would. The others must
recover its secret, so the output is the one its secret would have given had it been
revealed (docs/beacon.md).
"""

from __future__ import annotations

import sys

from governance.main import app
from race_node.agent import runner
from race_node.agent.agent import NodeAgent
from race_node.agent.beacon import beacon_duty
from race_node.agent.config import AgentConfig

build_production_agent = runner.build_agent


def build_withholding_agent(config: AgentConfig) -> NodeAgent:
    """The production agent, its beacon duty swapped for a withholding one."""
    agent = build_production_agent(config)
    for duty in agent.duties:
        if duty.name == "beacon":
            duty.handler = beacon_duty(config.agent_dir, withhold_reveal=True)
    return agent


if __name__ == "__main__":
    runner.build_agent = build_withholding_agent
    app(["agent", "start", *sys.argv[1:]], prog_name="race")
