#!/usr/bin/env bash
# Prints the OpenBLAS core for this CPU (OpenBLAS's own detection falls back to slow SSE3 kernels
# here): SkylakeX where AVX-512F exists, else Haswell where AVX2 does, else nothing.
flags=$(grep -m1 '^flags' /proc/cpuinfo)
case " $flags " in
    *" avx512f "*) echo SkylakeX ;;
    *" avx2 "*) echo Haswell ;;
esac
