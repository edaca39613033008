"""The web app: the chat beside the figures, with crop queries, result-set history, facet filters,
clusters, figure detail with reference-sign overlays and score explanations, export and status.

- `ui.web.app`: `build_ui(services, agent)` and `launch(...)`: the layout wired to the callbacks.
- `ui.web.layout`: the `gr.Blocks` and its widgets, nothing else.
- `ui.web.callbacks`: the event handlers; they call the agent and the tools, nothing more.
- `ui.web.panels`: what the results, figure, groups and status panels show, from a tab's state.
- `ui.web.query`: the query drawing: preview, clicks → crop box in original pixels, crop checks.
- `ui.web.state`: `UiState`, what one browser tab holds.
"""
