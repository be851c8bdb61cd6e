"""Executors for the many trainings of an audit: in-process, or Ray tasks on a cluster.

An audit trains many models (shadow models, stacks of reference models), each a pure
function of its inputs: the arm's recipe, a seed, a model id and the examples it trains
on (its membership mask over a pool). An `Executor` maps a task function over such
tasks and returns the results in task order:

    executor = make_executor("ray")            # or "local", "ray:ADDRESS"
    probs = executor.map(train_and_predict, tasks, labels=[t.label for t in tasks],
                         progress=progress)
    executor.close()

What goes through it: the shadow models of `run_audit` (`TrainAndScore`), its reference
models in stacks of `execution.models_per_task` (`dpaudit.audit.reference`), and every
training run of a canary audit, black-box, trainer or white-box (`dpaudit.canary.tasks`);
each task is built on `portable_recipe`. Targets train in process.

`LocalExecutor` runs them one after another in this process (the default).
`RayExecutor` (`pip install 'dpaudit[ray]'`) runs them as Ray tasks, on a Ray it
starts or on an existing cluster. The task function must be a module-level function
(workers import it by name) and every task must carry all its inputs, so results do not
depend on where a task runs, up to one thing: TensorFlow's kernels may round differently
with another number of threads, and a Ray task runs TensorFlow on one. Stacked reference
models then differ in the last bits of float32 (measured: 2e-7 in the weights after two
epochs, attack AUCs within 1e-4 on the default audit); shadow models and canary runs
came out bit for bit equal in the tests. `TF_NUM_INTRAOP_THREADS=1` makes a local run
reproduce a Ray run exactly. Models are saved by the task into the recipe's model cache
(`dpaudit.training.cache.ModelCache`, keyed by a hash of recipe, seed and examples),
so an interrupted run, local or distributed, resumes with the models already trained;
on a multi-node cluster the output folder must be on a file system every node sees.
"""

from dpaudit.execution.executors import Executor, LocalExecutor
from dpaudit.execution.factory import EXECUTOR_KINDS, make_executor, parse_executor
from dpaudit.execution.training import (TrainAndScore, TrainTask, portable_recipe,
                                        restore_trainer, train_and_predict, trainer_root)

__all__ = ["EXECUTOR_KINDS", "Executor", "LocalExecutor", "make_executor", "parse_executor",
           "TrainAndScore", "TrainTask", "portable_recipe", "restore_trainer",
           "train_and_predict", "trainer_root"]
