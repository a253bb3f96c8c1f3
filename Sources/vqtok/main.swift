OpenBLASKernels.ensureFastKernels()
print("vqtok: the commands arrive with the tokenizer and the server")
