"""Privacy accounting for DP-SGD via dp-accounting: epsilon (RDP and PLD), noise
calibration and a readable privacy statement. No TensorFlow.
"""

from dpaudit.accounting.pricing import (ACCOUNTANTS, SAMPLINGS, PrivacyStatement, calibrate_noise,
                                        compute_epsilon, dp_sgd_privacy, dp_sgd_steps,
                                        effective_noise_multiplier, epsilon_per_epoch, privacy_info,
                                        steps_per_epoch)

__all__ = ["ACCOUNTANTS", "SAMPLINGS", "PrivacyStatement", "calibrate_noise", "compute_epsilon",
           "dp_sgd_privacy", "dp_sgd_steps", "effective_noise_multiplier", "epsilon_per_epoch",
           "privacy_info", "steps_per_epoch"]
