"""What a channel adapter answered for one order, read by the channel tests."""

from connectors.channels import Mapped, Refused


def mapped(result: object) -> Mapped:
    assert isinstance(result, Mapped), result
    return result


def refused(result: object) -> dict[str, str]:
    """field → code of a refusal."""
    assert isinstance(result, Refused), result
    return {problem.field: problem.code for problem in result.problems}
