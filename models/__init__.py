"""Network definitions, installed as `workbench.models` (see pyproject's package-dir). They
import nothing else of workbench.

    cells.py    the cells and the parameter count, without torch
    charrnn.py  the char-RNN: one-hot -> LSTM/GRU/RNN layers -> dropout -> linear
    dropout.py  dropout with a cheaper random mask on the CPU
    stepper.py  one character at a time through fused cell calls, for sampling on the CPU
"""
