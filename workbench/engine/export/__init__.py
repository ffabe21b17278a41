"""A session's history for other tools (CSV, TensorBoard, live TensorBoard) and the rule for any file at a path the user names."""
