# tests/fuzz/fuzz.mk - libFuzzer harnesses are built and run by tests/fuzz/run
# (clang), not by make check; ship them and their seed corpora.
EXTRA_DIST += fuzz
