"""Support addresses (hosted and external), their verification and routing."""
