# Whether two safetensors files hold the same tensors, their headers aside: python compare_tensors.py A B
import sys, torch
from safetensors.torch import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
print(f"tensors of {sys.argv[1]} and {sys.argv[2]}: {'identical' if same else 'DIFFERENT'} (headers aside)")
