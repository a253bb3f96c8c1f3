print("vqtok")
