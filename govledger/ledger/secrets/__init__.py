"""Secret references and their resolution: the reference is stored, the value lives in memory."""
