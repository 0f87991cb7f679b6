"""Writes a C translation unit for the gcc test: gen_c.py N [VARIANT] writes unit N,
gen_c.py main writes the main program calling units 1..6."""
import sys

which = sys.argv[1]
variant = int(sys.argv[2]) if len(sys.argv) > 2 else 0
if which == "main":
    print("#include <stdio.h>")
    for i in range(1, 7):
        print(f"double unit{i}_run(int n);")
    print("int main(void) {")
    print("    double total = 0;")
    for i in range(1, 7):
        print(f'    total += unit{i}_run({1000 * i}); printf("unit{i} %.6f\\n", total);')
    print("    return 0;\n}")
    sys.exit(0)

n = int(which)
print("#include <math.h>\n#include <stdlib.h>\n#include <string.h>")
print(f"struct rec{n} {{ int id; double w[{n + 3}]; char tag[{8 * n}]; }};")
for f in range(40 + variant % 5):
    print(f"static double f{n}_{f}(double x, int k) {{")
    print(f"    double acc = {f}.0;")
    print(f"    for (int i = 0; i < k; i++) acc += sin(x * i + {f}) / (1.0 + i * {n});")
    print(f"    switch (k % 5) {{ case 0: acc *= 1.5; break; case 1: acc -= {variant}; break;")
    print("    case 2: acc = sqrt(fabs(acc)); break; default: acc += x; }")
    print("    return acc;\n}")
print(f"double unit{n}_run(int n) {{")
print(f"    struct rec{n} *r = calloc((size_t)n, sizeof *r);")
print("    double total = 0;")
print("    for (int i = 0; i < n; i++) {")
print("        r[i].id = i;")
for f in range(40 + variant % 5):
    print(f"        total += f{n}_{f}(i * 0.001, i % 17);")
print("    }\n    free(r);\n    return total;\n}")
