"""``referral-bus simulate``: "what happens if …" without a broker. A YAML timeline of agency
submissions runs through the router's and the SLA processor's own decision code on a simulated
clock and prints receipts, inbox deliveries and SLA outcomes as JSON lines (issue 3)."""

from referral_bus.simulate.expect import check
from referral_bus.simulate.runner import Simulation, simulate
from referral_bus.simulate.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)

__all__ = ["Scenario", "ScenarioError", "Simulation", "check", "load_scenario", "parse_scenario", "simulate"]
