"""The contract's process (S-3, S-5): started by the application that establishes it (or, for
contracts kept before, at start-up), moved by 解約 and told when its row changes."""

from activities.contracts import contract_terms
from processes.client import Processes
from workflows.contract import Cancellation, Contract, ContractInput, ContractStatus
from workflows.contract import workflow_id as contract_workflow_id

__all__ = ["ContractStatus", "cancel", "contract_workflow_id", "facts_changed", "start", "status", "terms",
           "withdraw_cancellation"]


terms = contract_terms  # the timing every contract's process is started with (settings)


async def start(processes: Processes, contract_id: int, code: str, customer_id: int) -> bool:
    """False when its workflow is running already (it continues as new at each term)."""
    return await processes.start(Contract.run, ContractInput(contract_id, code, terms(processes.settings)),
                                 id=contract_workflow_id(code), customer_id=customer_id)


async def cancel(processes: Processes, code: str, actor: str, at_once: bool) -> str:
    """解約: ``Refused`` with the rule's code (contract_fixed_term, contract_cutoff_passed, ...)."""
    state: str = await processes.update(contract_workflow_id(code), Contract.file_cancellation,
                                        Cancellation(actor, at_once), result_type=str)
    return state


async def withdraw_cancellation(processes: Processes, code: str, actor: str) -> str:
    state: str = await processes.update(contract_workflow_id(code), Contract.withdraw_cancellation, actor,
                                        result_type=str)
    return state


async def facts_changed(processes: Processes, code: str) -> None:
    await processes.signal(contract_workflow_id(code), Contract.facts_changed)


async def status(processes: Processes, code: str) -> ContractStatus:
    result: ContractStatus = await processes.query(contract_workflow_id(code), Contract.status,
                                                   result_type=ContractStatus)
    return result
