"""The OpenLineage RunEvent JSON Schema, rebuilt from the official client's generated models.

``openlineage.client.generated`` (openlineage-python) is generated from the spec's JSON Schema
(``OpenLineage.json`` and one schema per facet). No package on the registries the tests may reach
ships those schema files, so the schema is rebuilt from the generated classes: each field with
its JSON type, the required ones, enumerations, the formats the spec gives (``date-time``,
``uuid``, ``uri``), and every standard facet under the key the spec files it by. Facets under
other keys (custom facets, like roar's ``roar_digest``) must still be valid base facets, as the
spec says. Validation uses :mod:`jsonschema` with format checking.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

import attr
import jsonschema
from openlineage.client.generated import (
    base,
    datasource_dataset,
    documentation_dataset,
    documentation_job,
    environment_variables_run,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_job,
    source_code_location_job,
    sql_job,
    storage_dataset,
    symlinks_dataset,
)

# The keys the spec's facet schemas file each standard facet under, by where it goes.
STANDARD_FACETS: dict[str, dict[str, type]] = {
    "Run": {
        "errorMessage": error_message_run.ErrorMessageRunFacet,
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
        "nominalTime": nominal_time_run.NominalTimeRunFacet,
        "parent": parent_run.ParentRunFacet,
        "environmentVariables": environment_variables_run.EnvironmentVariablesRunFacet,
    },
    "Job": {
        "jobType": job_type_job.JobTypeJobFacet,
        "sourceCode": source_code_job.SourceCodeJobFacet,
        "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet,
        "documentation": documentation_job.DocumentationJobFacet,
        "sql": sql_job.SQLJobFacet,
    },
    "Dataset": {
        "dataSource": datasource_dataset.DatasourceDatasetFacet,
        "schema": schema_dataset.SchemaDatasetFacet,
        "storage": storage_dataset.StorageDatasetFacet,
        "symlinks": symlinks_dataset.SymlinksDatasetFacet,
        "documentation": documentation_dataset.DocumentationDatasetFacet,
    },
    "InputDataset.inputFacets": {
        "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet,
    },
    "OutputDataset.outputFacets": {
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
    },
}

# Fields the spec requires although the client gives them a default (it fills them in itself).
ALWAYS_REQUIRED = {"producer", "schemaURL", "_producer", "_schemaURL"}
FORMATS = {
    "eventTime": "date-time",
    "runId": "uuid",
    "producer": "uri",
    "schemaURL": "uri",
    "_producer": "uri",
    "_schemaURL": "uri",
}


class _Builder:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def model(self, cls: type) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: recursive references end here
            self.defs[name] = self._object(cls)
        return {"$ref": f"#/$defs/{name}"}

    def _object(self, cls: type) -> dict[str, Any]:
        attr.resolve_types(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in attr.fields(cls):
            key = field.name
            schema = self._facets(cls, key, field.type) or self._type(field.type)
            if key in FORMATS:
                schema = {**schema, "format": FORMATS[key]}
            properties[key] = schema
            if field.default is attr.NOTHING or key in ALWAYS_REQUIRED:
                required.append(key)
        return {"type": "object", "properties": properties, "required": required}

    def _facets(self, cls: type, key: str, annotation: Any) -> dict[str, Any] | None:
        """A facets map: the standard facets by key, anything else a base facet of its kind."""
        if not key.endswith(("facets", "Facets")):
            return None
        kind = next(
            (k for k in (f"{cls.__name__}.{key}", cls.__name__) if k in STANDARD_FACETS), None
        )
        if kind is None and cls.__name__ in ("InputDataset", "OutputDataset", "StaticDataset"):
            kind = "Dataset"
        value_type = typing.get_args(_strip_none(annotation))[1]
        return {
            "type": "object",
            "properties": {
                name: self.model(model)
                for name, model in STANDARD_FACETS.get(kind or "", {}).items()
            },
            "additionalProperties": self.model(value_type),
        }

    def _type(self, annotation: Any) -> dict[str, Any]:
        annotation = _strip_none(annotation)
        origin = typing.get_origin(annotation)
        if annotation is str:
            return {"type": "string"}
        if annotation is bool:
            return {"type": "boolean"}
        if annotation is int:
            return {"type": "integer"}
        if annotation is float:
            return {"type": "number"}
        if annotation is Any or annotation is object:
            return {}
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return {"enum": [member.value for member in annotation]}
        if origin is list:
            return {"type": "array", "items": self._type(typing.get_args(annotation)[0])}
        if origin is dict:
            return {
                "type": "object",
                "additionalProperties": self._type(typing.get_args(annotation)[1]),
            }
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [self._type(arg) for arg in typing.get_args(annotation)]}
        if attr.has(annotation):
            return self.model(annotation)
        raise TypeError(f"no JSON Schema rule for {annotation!r}")


def _strip_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return typing.Union[tuple(args)]  # noqa: UP007 - built from a runtime tuple
    return annotation


def run_event_schema() -> dict[str, Any]:
    """The RunEvent schema (draft 2020-12), with every model it uses under ``$defs``."""
    builder = _Builder()
    root = builder.model(base.RunEvent)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **root,
        "$defs": builder.defs,
    }


def run_event_errors(event: object) -> list[str]:
    """What makes ``event`` not a valid OpenLineage RunEvent ([] when it is one)."""
    validator = jsonschema.Draft202012Validator(
        run_event_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(event)'}: {error.message}"
        for error in validator.iter_errors(event)
    ]
