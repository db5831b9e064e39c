"""Reward models: the policy's backbone with a value head, trained on the policy's own samples.

A `RewardModel` is a `transformers` `LlamaForTokenClassification` with one output (a value
on every position), reading the policy's characters: the prompt, then the completion
(``"13 4 7 2>48:13-7=6,6*4=24,24*2=48."``). Its estimate that the completion will turn out
correct, *as of a step*, is the sigmoid of the value at the step's last character (the
``,`` or the final ``.``), so one forward pass scores every step prefix of a completion.

Its first layers are the policy's own, frozen; two fresh decoder layers and the value head
on top are trained. Checking a step means comparing the digits written with the ones the
policy expected, and a position of the policy never sees the finished prediction made at
the position before it (that only exists after the last layer); the fresh layers do. With
the policy's layers alone and fine-tuned, the reward models learned the problem's difficulty
but hardly looked at the arithmetic (best-of-16 at majority voting's level); with the two
layers on top they read it.

Two kinds are trained by the same loop and differ only in their labels:

- ``orm`` (outcome reward model, Cobbe et al. 2021): every step of a completion is labelled
  with the oracle's verdict on the whole completion; the score is read at the last step.
- ``prm`` (process reward model, Math-Shepherd, Wang et al. 2024): ``rollouts``
  continuations of each step prefix are sampled from the policy and judged by the oracle.
  With ``labels="hard"`` (the bundled PRM, Math-Shepherd's hard estimate) the prefix is
  labelled 1 if any of them ends correct: "a solution can still be found from here", what
  the exact `StepOracle` says. With ``labels="soft"`` it is labelled with the fraction that
  do (a Monte Carlo estimate of the prefix's value under the policy). The last step gets the
  oracle's verdict. No hand labels.

Data, training and the card are reproducible from the recipe and its seed
(``python -m tsc train --recipe prm --install``).
"""

from tsc.lm.recipes import REWARD_RECIPES, RewardRecipe
from tsc.lm.reward.data import build_examples, reward_data
from tsc.lm.reward.model import KINDS, RewardModel, is_reward_model, load_reward_model, reward_model_from_policy
from tsc.lm.reward.train import collate_rewards, reward_loss, train_reward, validation_loss

__all__ = [
    "KINDS",
    "REWARD_RECIPES",
    "RewardModel",
    "RewardRecipe",
    "build_examples",
    "collate_rewards",
    "is_reward_model",
    "load_reward_model",
    "reward_data",
    "reward_loss",
    "reward_model_from_policy",
    "train_reward",
    "validation_loss",
]
