"""The cpu profile's BreastMNIST study end to end, per stage, from a fresh clone with the shipped generators (issue
target: at most 30 minutes on a 2-core CPU). Same procedure as `bench_demo.py`; writes the `bench_breastmnist` section.

    python bench/bench_breastmnist.py [--keep] [--target 1800]
"""
import sys
from bench_demo import main

if __name__ == '__main__':
    sys.exit(main('breastmnist', 'cpu', 'bench_breastmnist', 1800., 'BreastMNIST study (`ssgnet run breastmnist --profile cpu`): wall time per stage',
                  'python bench/bench_breastmnist.py'))
