"""Statistics: agreement (kappa, alpha, AC1, PABAK with intervals), intervals (Wilson, Newcombe, Holm), judge calibration, paired comparison of runs."""
