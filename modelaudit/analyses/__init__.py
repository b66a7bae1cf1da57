"""What is built on a Report: symbolic costs, sweeps, training, explain, calc, findings, compare, budgets,
op coverage."""
