"""Conductor's JSON documents, built from plain values: the Task and Workflow documents from
``.values()`` rows (``executions``), the search results' WorkflowSummary and TaskSummary
(``summaries``), definitions as Conductor prints them (``definitions``), event handlers
(``events``).

The rules are Jackson's ``NON_NULL``: null fields are omitted while 0, false, {} and [] are
kept, and null *values inside user maps* (input, output, inputParameters) are kept, as Jackson
keeps them. Key order is the order of Conductor's classes: clients compare documents as text
more often than one would hope.

Nothing here reads an execution: selectors read the rows, these functions shape them. Both the
API and the services (a failure workflow's input carries the failed workflow's document) use
them, which is why they live outside ``orchestration.api``.
"""
